"""A reproducible WordPiece vocabulary: the same corpus gives the same vocabulary, in every process.

Hugging Face's `WordPieceTrainer` is not reproducible: it gives each "##c" (a character inside a word) its
id in the order it meets words in a hash map seeded at random per process, and equal-count merges are
ordered by those ids, so two fits of one corpus differ (measured here: 8 fits of a 128-text corpus gave 8
different vocabularies), and so would two runs with the same seed. Its `BpeTrainer` without a continuing
prefix is reproducible: every symbol is in the alphabet before training, and the alphabet is sorted.

So ptft trains WordPiece through BPE: each word of the normalised, pre-tokenized corpus is rewritten with its
non-initial characters replaced by stand-ins (one private-use code point per alphabet character, in sorted
order), the BPE trainer learns merges over those words, and the resulting tokens are mapped back, a token
starting with a stand-in becoming "##" + its characters. The alphabet is capped as WordPiece's trainer caps
it (half the vocabulary), keeping the most frequent characters with ties broken by code point.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

PREFIX = "##"
_PRIVATE_USE = (0xF0000, 0x10FFFD)  # planes 15 and 16: no character that normalised text is likely to use
ASCII_WORD = re.compile(r"[A-Za-z0-9]+|[^ A-Za-z0-9]")  # BertPreTokenizer on printable ASCII (+ the "\n" joins)
_CONTROLS = bytes([*range(0x0A), *range(0x0B, 0x20), 0x7F])  # not printable ASCII, but for the "\n" joins


def count_words(tokenizer: Tokenizer, texts: Iterable[list[str]], bert_lowercase: bool | None = None) -> Counter[str]:
    """How often each word occurs, words as `tokenizer`'s normalizer and pre-tokenizer cut them.

    `bert_lowercase` (True/False) says the tokenizer is ptft's BERT-style one (NFKC + BertNormalizer with that
    lowercasing, BertPreTokenizer): then a batch of printable-ASCII texts, on which those steps are just
    (lowercasing and) splitting into runs of letters and digits and single other characters, is counted with
    one regex over the whole batch (tests compare both ways)."""
    counts: Counter[str] = Counter()
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    assert normalizer is not None and pre_tokenizer is not None
    for batch in texts:
        joined = "\n".join(batch)
        if bert_lowercase is not None and printable_ascii(joined, len(batch)):
            counts.update(ASCII_WORD.findall(joined.lower() if bert_lowercase else joined))
            del counts["\n"]  # the separator the regex also matched
            continue
        for text in batch:
            counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def printable_ascii(joined: str, texts: int) -> bool:
    """Whether `texts` texts joined by newlines are all printable ASCII (no newline of their own)."""
    return (
        joined.isascii()
        and joined.count("\n") == texts - 1
        and len(joined.encode("ascii").translate(None, _CONTROLS)) == len(joined)
    )


def _alphabet(words: Counter[str], limit: int) -> list[str]:
    """The `limit` most frequent characters (ties by code point), sorted by code point."""
    chars: Counter[str] = Counter()
    for word, count in words.items():
        for char in word:
            chars[char] += count
    ranked = sorted(chars.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return sorted(char for char, _ in ranked)


def _stand_ins(alphabet: list[str]) -> dict[str, str]:
    """One unused private-use code point per alphabet character, in the alphabet's order."""
    used, out = set(alphabet), {}
    code = _PRIVATE_USE[0]
    for char in alphabet:
        while chr(code) in used:
            code += 1
        if code > _PRIVATE_USE[1]:
            raise ValueError("the alphabet is too large for WordPiece training")  # > 130,000 characters
        out[char] = chr(code)
        code += 1
    return out


def train_wordpiece(words: Counter[str], vocab_size: int, special_tokens: list[str]) -> dict[str, int]:
    """A WordPiece vocabulary (token -> id, `special_tokens` first) of at most `vocab_size` tokens."""
    alphabet = _alphabet(words, (vocab_size - len(special_tokens)) // 2)
    inside = _stand_ins(alphabet)
    known = set(alphabet)

    def rewritten() -> Iterator[list[str]]:
        batch: list[str] = []
        for word, count in sorted(words.items()):
            kept = [c for c in word if c in known]  # as WordPiece's trainer, unknown characters are dropped
            if not kept:
                continue
            form = kept[0] + "".join(inside[c] for c in kept[1:])
            batch.extend([form] * count)
            if len(batch) >= 10_000:
                yield batch
                batch = []
        yield batch

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=alphabet,  # each character as a word start; "##c" only where it occurs inside words
        show_progress=False,
    )
    bpe.train_from_iterator(rewritten(), trainer=trainer)
    back = {stand_in: char for char, stand_in in inside.items()}
    vocab: dict[str, int] = {}
    for token, index in sorted(bpe.get_vocab().items(), key=lambda item: item[1]):
        if token in special_tokens:
            vocab[token] = index
            continue
        plain = "".join(back.get(c, c) for c in token)
        vocab[PREFIX + plain if token[0] in back else plain] = index
    return vocab
