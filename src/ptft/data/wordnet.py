"""The built-in text tasks "WordNet noun supersenses" and "WordNet verb supersenses": classify a synset's
definition into its lexicographer file (noun.animal, noun.artifact, ... 26 classes; verb.motion,
verb.communication, ... 15 classes), read from WordNet 3.0 (Miller, 1995, "WordNet: a lexical database for
English", CACM 38(11)) as shipped by the Debian package `wordnet-base`. The verb task is a second text task
of another kind of gloss, so that text defaults are not chosen on one task alone.

`data.noun` and `data.verb` are parsed as documented in wndb(5WN); lexicographer file numbers map to names
as in lexnames(5WN). A synset line is

    synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...] [frames...] | gloss

where only verbs have frames (`f_cnt` and that many `+ f_num w_num`).

and its gloss is a definition followed by optional example sentences in double quotes, separated by "; ".

Split rule: the test split is a fixed, stratified sample of TEST_SYNSETS synsets (verbs: 2,000) drawn with numpy
generators seeded from SPLIT_SEED; it depends on the file's content only, never on where it lies. Only
synsets whose definition (normalised as `ptft.data.dedup.normalise`) occurs once in the file are
eligible, so no test text is also a train text. Each class gets its share of TEST_SYNSETS by largest
remainder; within a class, synsets in file order are permuted with the class's own generator (seeded
`[SPLIT_SEED, lex_filenum]`); a class with fewer eligible synsets than its share gives them all (never
the case in WordNet 3.0). A data.noun with fewer than 2 * TEST_SYNSETS synsets (a test fixture) gets a
fifth of its synsets as test. The train split holds every other synset's definition, labelled, plus its
example sentences as unlabeled texts (label -1) for pre-training; an example sentence equal (after
`normalise`) to a test definition or to a test synset's example is left out, so nothing of the test
synsets reaches train.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptft.data.dedup import text_hash
from ptft.data.text import ReadStats, decoded_lines
from ptft.data.types import TextSet
from ptft.errors import ConfigError, DataError

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")  # Debian package wordnet-base
NOUN_FILE = "data.noun"
TEST_SYNSETS = 5000
SPLIT_SEED = 20240501  # fixed: changing it changes the published test split
SPLITS = ("train", "test")
INSTALL_FIX = (
    "install it with `sudo apt-get install wordnet-base`, or pass data_dir (--data-dir) to a folder holding "
    "{file}, or set $PTFT_DATA_DIR to a folder holding wordnet/{file}"
)

# lexnames(5WN): lexicographer file number -> name, nouns only (03 .. 28).
NOUN_LEXNAMES = {
    3: "noun.Tops", 4: "noun.act", 5: "noun.animal", 6: "noun.artifact", 7: "noun.attribute", 8: "noun.body",
    9: "noun.cognition", 10: "noun.communication", 11: "noun.event", 12: "noun.feeling", 13: "noun.food",
    14: "noun.group", 15: "noun.location", 16: "noun.motive", 17: "noun.object", 18: "noun.person",
    19: "noun.phenomenon", 20: "noun.plant", 21: "noun.possession", 22: "noun.process", 23: "noun.quantity",
    24: "noun.relation", 25: "noun.shape", 26: "noun.state", 27: "noun.substance", 28: "noun.time",
}  # fmt: skip
# lexnames(5WN), verbs (29 .. 43).
VERB_LEXNAMES = {
    29: "verb.body", 30: "verb.change", 31: "verb.cognition", 32: "verb.communication", 33: "verb.competition",
    34: "verb.consumption", 35: "verb.contact", 36: "verb.creation", 37: "verb.emotion", 38: "verb.motion",
    39: "verb.perception", 40: "verb.possession", 41: "verb.social", 42: "verb.stative", 43: "verb.weather",
}  # fmt: skip
LEXNUMBER = {name: number for number, name in (NOUN_LEXNAMES | VERB_LEXNAMES).items()}
QUOTED = re.compile(r'"([^"]*)"')
EXAMPLE_START = re.compile(r';\s*(?=")')  # examples are separated by '; ' before an opening quote


@dataclass(frozen=True)
class PartOfSpeech:
    """What differs between data.noun and data.verb."""

    file: str
    ss_type: str
    lexnames: dict[int, str]
    test_synsets: int  # the size of the fixed test split
    frames: bool  # verb lines list sentence frames after their pointers


NOUN = PartOfSpeech(NOUN_FILE, "n", NOUN_LEXNAMES, TEST_SYNSETS, frames=False)
VERB = PartOfSpeech("data.verb", "v", VERB_LEXNAMES, 2000, frames=True)  # 13,767 synsets


@dataclass(frozen=True)
class Synset:
    """One synset: its byte offset, supersense, words (underscores become spaces), gloss parts, file line."""

    offset: int
    lexname: str
    words: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]
    line: int = 0


def split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """(definition, example sentences) of a gloss.

    The examples start at the first double quote that opens the gloss or follows ';' or ':'; a quote
    inside the definition ('in the phrase "make strides"') stays in it. Each '; "'-separated part gives
    its quoted sentences ('"a" or "b"' gives two); a part whose quote is never closed (a typo in the
    data: '"he was in bondage to fear:; "...') gives the text after its quote. Attributions after an
    example ('"..."- Shakespeare') are dropped.
    """
    if '"' not in gloss:  # most glosses: a definition alone
        return gloss.strip().rstrip(";: "), ()
    start = next(
        (
            match.start()
            for match in re.finditer('"', gloss)
            if not gloss[: match.start()].rstrip() or gloss[: match.start()].rstrip()[-1] in ";:"
        ),
        len(gloss),
    )
    definition = gloss[:start].strip().rstrip(";: ")
    examples: list[str] = []
    for part in EXAMPLE_START.split(gloss[start:]):
        quoted = QUOTED.findall(part) or [part.strip().removeprefix('"').rstrip(";: ")]
        examples += [text.strip() for text in quoted if text.strip()]
    return definition, tuple(examples)


def parse_synset(text: str, path: Path, number: int, pos: PartOfSpeech = NOUN) -> Synset:
    """Line `number` of data.noun (data.verb) as a Synset; a malformed line raises a DataError naming file and
    line."""
    where = f"{path}:{number}"
    head, bar, gloss = text.partition(" | ")
    if not bar:
        raise DataError(f"{where}: no ' | ' before the gloss; expected a wndb(5WN) synset line")
    fields = head.split()

    def need(count: int, what: str) -> None:
        if len(fields) < count:
            raise DataError(f"{where}: line ends before {what}; expected a wndb(5WN) synset line")

    need(4, "synset_offset lex_filenum ss_type w_cnt")
    offset, lex_filenum, ss_type, w_cnt = fields[:4]
    if not (len(offset) == 8 and offset.isdigit()):
        raise DataError(f"{where}: synset_offset {offset!r} is not an 8-digit number")
    if not (len(lex_filenum) == 2 and lex_filenum.isdigit()) or int(lex_filenum) not in pos.lexnames:
        first, last = min(pos.lexnames), max(pos.lexnames)
        raise DataError(f"{where}: lex_filenum {lex_filenum!r} is not a {pos.file} file number "
                        f"{first:02d}..{last:02d} (lexnames(5WN))")  # fmt: skip
    if ss_type != pos.ss_type:
        raise DataError(f"{where}: ss_type {ss_type!r}, expected '{pos.ss_type}' in {pos.file}")
    if not re.fullmatch("[0-9a-fA-F]{2}", w_cnt):
        raise DataError(f"{where}: w_cnt {w_cnt!r} is not a 2-digit hexadecimal number")
    word_count = int(w_cnt, 16)
    need(4 + 2 * word_count + 1, f"the {word_count} word/lex_id pairs and p_cnt")
    words = tuple(word.replace("_", " ") for word in fields[4 : 4 + 2 * word_count : 2])
    p_cnt = fields[4 + 2 * word_count]
    if not (len(p_cnt) == 3 and p_cnt.isdigit()):
        raise DataError(f"{where}: p_cnt {p_cnt!r} is not a 3-digit number")
    end = 5 + 2 * word_count + 4 * int(p_cnt)
    need(end, f"the {int(p_cnt)} pointers (symbol offset pos source/target)")
    if pos.frames:
        end = _frames_end(fields, end, where)
    if len(fields) != end:
        raise DataError(f"{where}: {len(fields) - end} unexpected field(s) before the gloss: {fields[end:][:4]}")
    definition, examples = split_gloss(gloss.strip())
    if not definition:
        raise DataError(f"{where}: the gloss has no definition before its examples")
    return Synset(int(offset), pos.lexnames[int(lex_filenum)], words, definition, examples, number)


def _frames_end(fields: list[str], start: int, where: str) -> int:
    """Where a verb line's frames end: `f_cnt` (2 digits), then that many `+ f_num w_num`."""
    if len(fields) <= start:
        raise DataError(f"{where}: line ends before f_cnt (a verb lists its frames after its pointers)")
    if not (len(fields[start]) == 2 and fields[start].isdigit()):
        raise DataError(f"{where}: f_cnt {fields[start]!r} is not a 2-digit number")
    end = start + 1 + 3 * int(fields[start])
    if len(fields) < end or any(fields[i] != "+" for i in range(start + 1, end, 3)):
        raise DataError(f"{where}: the {int(fields[start])} frames are not all '+ f_num w_num'")
    return end


def read_synsets(folder: Path, pos: PartOfSpeech = NOUN) -> list[Synset]:
    """Every synset of `folder/data.noun` (or pos.file), in file order; license lines (two leading spaces)
    skipped."""
    path = Path(folder) / pos.file
    if not path.is_file():
        raise DataError(f"{path}: no WordNet {pos.file} file; {INSTALL_FIX.format(file=pos.file)}")
    synsets = []
    for number, text in decoded_lines(path, ReadStats()):
        if text.startswith("  ") or not text.strip():
            continue
        synsets.append(parse_synset(text, path, number, pos))
    if not synsets:
        raise DataError(f"{path}: no synset lines; is it a WordNet {pos.file}? {INSTALL_FIX.format(file=pos.file)}")
    return synsets


def wordnet_dir(data_dir: str = "", file: str = NOUN_FILE) -> Path:
    """data_dir if given; else $PTFT_DATA_DIR/wordnet when it holds `file`; else DEBIAN_WORDNET_DIR."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("PTFT_DATA_DIR"):
        folder = Path(os.environ["PTFT_DATA_DIR"]).expanduser() / "wordnet"
        if (folder / file).is_file():
            return folder
    return DEBIAN_WORDNET_DIR


def held_out_positions(synsets: list[Synset], test_synsets: int = TEST_SYNSETS) -> np.ndarray:
    """Sorted positions of the test synsets (see the module docstring for the rule)."""
    size = test_synsets if len(synsets) >= 2 * test_synsets else len(synsets) // 5
    hashes = [text_hash(synset.definition) for synset in synsets]
    definition_counts = Counter(hashes)
    eligible: dict[str, list[int]] = {}
    for position, synset in enumerate(synsets):
        if definition_counts[hashes[position]] == 1:
            eligible.setdefault(synset.lexname, []).append(position)
    class_sizes = Counter(synset.lexname for synset in synsets)
    names = sorted(class_sizes)
    shares = np.array([class_sizes[name] * size / len(synsets) for name in names])
    quotas = np.floor(shares).astype(np.int64)
    # Largest remainder; ties go to the class that sorts first (stable argsort).
    for index in np.argsort(-(shares - quotas), kind="stable")[: size - int(quotas.sum())]:
        quotas[index] += 1
    chosen: list[int] = []
    for name, quota in zip(names, quotas.tolist()):
        candidates = np.array(eligible.get(name, []), dtype=np.int64)
        rng = np.random.default_rng([SPLIT_SEED, LEXNUMBER[name]])
        chosen += candidates[rng.permutation(len(candidates))[:quota]].tolist()
    return np.array(sorted(chosen), dtype=np.int64)


def wordnet_supersenses(data_dir: str = "", split: str = "train", pos: PartOfSpeech = NOUN) -> TextSet:
    """WordNet noun (verb) supersenses: text = a synset's definition, label = its lexicographer file name.

    split "test": the fixed pos.test_synsets test synsets, labelled. split "train": the other synsets'
    definitions, labelled, then their example sentences, unlabeled (-1). ids are 'data.noun:LINE', and
    'data.noun:LINE#exampleK' for the K-th example sentence of the synset on that line (data.verb alike).
    """
    if split not in SPLITS:
        raise ConfigError(f"wordnet split {split!r} is unknown; use one of {', '.join(SPLITS)}")
    folder = wordnet_dir(data_dir, pos.file)
    synsets = read_synsets(folder, pos)
    label_names = sorted({synset.lexname for synset in synsets})
    label_of = {name: index for index, name in enumerate(label_names)}
    is_test = np.zeros(len(synsets), dtype=bool)
    is_test[held_out_positions(synsets, pos.test_synsets)] = True
    chosen = [synset for synset, test in zip(synsets, is_test.tolist()) if test == (split == "test")]
    texts = [synset.definition for synset in chosen]
    labels = [label_of[synset.lexname] for synset in chosen]
    ids = [f"{pos.file}:{synset.line}" for synset in chosen]
    if split == "train":
        held_out = {
            text_hash(text)
            for synset, test in zip(synsets, is_test.tolist())
            if test
            for text in (synset.definition, *synset.examples)
        }
        for synset in chosen:
            for number, example in enumerate(synset.examples, start=1):
                if text_hash(example) not in held_out:
                    texts.append(example)
                    labels.append(-1)
                    ids.append(f"{pos.file}:{synset.line}#example{number}")
    return TextSet(
        texts=texts,
        labels=np.array(labels, dtype=np.int64),
        label_names=label_names,
        ids=ids,
        source=f"{folder / pos.file} ({split})",
    )
