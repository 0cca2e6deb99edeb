"""WordNet noun and verb supersenses: the wndb(5WN) parser on a synthetic data.noun with known answers, file:line
errors on malformed lines, the fixed stratified test split and its leakage rules; one test on the real
Debian wordnet-base file, skipped where it is not installed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ptft.data.dedup import normalise
from ptft.data.load import read_text_set
from ptft.data.wordnet import (
    DEBIAN_WORDNET_DIR,
    VERB,
    Synset,
    read_synsets,
    split_gloss,
    wordnet_dir,
    wordnet_supersenses,
)
from ptft.errors import ConfigError, DataError
from tests.conftest import HEADER, synthetic_lines, write_noun_file

ENTITY = (
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04424418 n 0000 | that which is "
    "perceived or known or inferred to have its own distinct existence (living or nonliving)  "
)
DOG = (
    "02084071 05 n 02 dog 0 domestic_dog 0 002 @ 02083346 n 0000 + 01240210 v 0101 | a member of the genus Canis; "
    'often used in the phrase "man\'s best friend"; "the dog barked all night"; "a dog\'s life; or not"- Anon  '
)
# w_cnt is hexadecimal: 0a = ten words, no pointers.
TEN_WORDS = "00002000 06 n 0a " + " ".join(f"w{index} {index % 10}" for index in range(10)) + " 000 | a gadget  "


def test_parses_header_pointers_hex_word_count_and_examples(tmp_path: Path) -> None:
    write_noun_file(tmp_path, [*HEADER, ENTITY, DOG, TEN_WORDS])
    entity, dog, gadget = read_synsets(tmp_path)
    assert entity == Synset(
        1740,
        "noun.Tops",
        ("entity",),
        "that which is perceived or known or inferred to have its own distinct existence (living or nonliving)",
        (),
        3,
    )
    assert dog.offset == 2084071 and dog.lexname == "noun.animal" and dog.words == ("dog", "domestic dog")
    assert dog.definition == 'a member of the genus Canis; often used in the phrase "man\'s best friend"'
    assert dog.examples == ("the dog barked all night", "a dog's life; or not")
    assert dog.line == 4
    assert gadget.words == tuple(f"w{index}" for index in range(10)) and gadget.lexname == "noun.artifact"


@pytest.mark.parametrize(
    ("gloss", "definition", "examples"),
    [
        ("plain", "plain", ()),
        ('act of war: "mobilization of the troops"', "act of war", ("mobilization of the troops",)),
        (
            'state; "in bondage to fear:; "freed from Satan"; "x"',
            "state",
            ("in bondage to fear", "freed from Satan", "x"),
        ),
        ('depth; "of breathing" or "of sighs";', "depth", ("of breathing", "of sighs")),
    ],
)
def test_gloss_splits_definition_from_examples(gloss: str, definition: str, examples: tuple[str, ...]) -> None:
    assert split_gloss(gloss) == (definition, examples)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("00001740 03 n 01 entity 0 000 no gloss bar", "no ' | '"),
        ("00001740 45 n 01 entity 0 000 | x", "lex_filenum '45'"),
        ("00001740 03 v 01 entity 0 000 | x", "ss_type 'v'"),
        ("00001740 03 n zz entity 0 000 | x", "w_cnt 'zz'"),
        ("00001740 03 n 02 entity 0 000 | x", "line ends before the 2 word/lex_id pairs"),
        ("00001740 03 n 01 entity 0 002 @ 00001930 n 0000 | x", "line ends before the 2 pointers"),
        ("00001740 03 n 01 entity 0 000 extra | x", "1 unexpected field"),
        ("1740 03 n 01 entity 0 000 | x", "synset_offset '1740'"),
        ('00001740 03 n 01 entity 0 000 | "only an example"', "no definition"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_noun_file(tmp_path, [*HEADER, ENTITY, line])
    with pytest.raises(DataError, match=message) as caught:
        read_synsets(tmp_path)
    assert f"{path}:4:" in str(caught.value)


def test_missing_file_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="apt-get install wordnet-base.*data_dir"):
        read_synsets(tmp_path)
    with pytest.raises(ConfigError, match="use one of train, test"):
        wordnet_supersenses(str(tmp_path), split="validation")


def test_data_dir_then_environment_then_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTFT_DATA_DIR", raising=False)
    assert wordnet_dir("") == DEBIAN_WORDNET_DIR
    monkeypatch.setenv("PTFT_DATA_DIR", str(tmp_path))
    assert wordnet_dir("") == DEBIAN_WORDNET_DIR  # no wordnet/data.noun there yet
    write_noun_file(tmp_path / "wordnet", [*HEADER, ENTITY])
    assert wordnet_dir("") == tmp_path / "wordnet"
    assert wordnet_dir(str(tmp_path / "other")) == tmp_path / "other"


def test_split_is_stratified_fixed_and_leak_free(tmp_path: Path) -> None:
    lines = synthetic_lines({5: 20, 6: 15, 18: 5})
    # Two synsets share a definition: neither may be a test synset, or its text would be in train too.
    lines += [
        "20000000 18 n 01 twin 0 000 | a shared definition  ",
        "20000100 18 n 01 twin 1 000 | A  shared DEFINITION  ",
    ]
    write_noun_file(tmp_path / "one", lines)
    write_noun_file(tmp_path / "two", lines)
    test = wordnet_supersenses(str(tmp_path / "one"), split="test")
    train = wordnet_supersenses(str(tmp_path / "one"), split="train")
    assert test.label_names == train.label_names == ["noun.animal", "noun.artifact", "noun.person"]
    assert len(test) == 42 // 5 and test.labels is not None and (test.labels >= 0).all()
    # Largest remainder of 8 * (20, 15, 7) / 42 = (3.81, 2.86, 1.33) -> (4, 3, 1).
    assert Counter(test.labels.tolist()) == {0: 4, 1: 3, 2: 1}
    assert test.ids == wordnet_supersenses(str(tmp_path / "two"), split="test").ids  # not tied to the folder
    assert train.labels is not None
    labelled = train.labels >= 0
    assert int(labelled.sum()) == 42 - len(test)
    assert not set(test.ids) & set(train.ids)
    assert all(identifier.startswith("data.noun:") for identifier in test.ids + train.ids)
    assert "a shared definition" in train.texts and "A  shared DEFINITION" in train.texts
    examples = [text for text, label in zip(train.texts, train.labels.tolist()) if label == -1]
    definitions = [text for text, label in zip(train.texts, train.labels.tolist()) if label >= 0]
    expected = ["example " + text.removeprefix("definition ") for text in definitions if text.startswith("definition ")]
    assert sorted(examples) == sorted(expected)  # each train synset's own example; no test synset's
    assert "a shared example" not in examples  # a test synset has it too
    assert all(identifier.split("#")[0] not in test.ids for identifier in train.ids)


@pytest.mark.skipif(not (DEBIAN_WORDNET_DIR / "data.noun").is_file(), reason="wordnet-base is not installed")
def test_real_wordnet_noun_supersenses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTFT_DATA_DIR", raising=False)
    test, again = wordnet_supersenses(split="test"), wordnet_supersenses(split="test")
    train = wordnet_supersenses(split="train")
    assert len(test) == 5_000 and len(test.label_names) == 26 and test.label_names == sorted(test.label_names)
    assert test.ids == again.ids and test.fingerprint() == again.fingerprint()
    assert train.labels is not None and test.labels is not None
    assert set(np.unique(test.labels).tolist()) == set(range(26))
    assert int((train.labels >= 0).sum()) + len(test) == 82_115  # every noun synset of WordNet 3.0
    assert not {identifier.split("#")[0] for identifier in train.ids} & set(test.ids)
    held_out = {normalise(text) for text in test.texts}
    assert not held_out & {normalise(text) for text in train.texts}


BREATHE = (
    "00001740 29 v 02 breathe 0 respire 0 002 $ 00002325 v 0000 @ 00004227 v 0103 02 + 02 00 + 08 01 | draw air "
    'into, and expel out of, the lungs; "I can breathe better when the air is clean"  '
)


def test_verb_lines_list_frames_after_their_pointers(tmp_path: Path) -> None:
    (tmp_path / "data.verb").write_text("\n".join([*HEADER, BREATHE]) + "\n", encoding="utf-8")
    (breathe,) = read_synsets(tmp_path, VERB)
    assert breathe.lexname == "verb.body" and breathe.words == ("breathe", "respire")
    assert breathe.examples == ("I can breathe better when the air is clean",)
    for bad, message in ((" 02 + 02 00 + 08 01 |", " 03 + 02 00 + 08 01 |"), (" 02 + 02 00 + 08 01 |", " |")):
        (tmp_path / "data.verb").write_text("\n".join([*HEADER, BREATHE.replace(bad, message)]) + "\n")
        with pytest.raises(DataError, match=r"data.verb:3: (the 3 frames|line ends before f_cnt)"):
            read_synsets(tmp_path, VERB)
    write_noun_file(tmp_path, [*HEADER, ENTITY])
    (tmp_path / "data.verb").write_text("\n".join([*HEADER, ENTITY]) + "\n")
    with pytest.raises(DataError, match=r"lex_filenum '03' is not a data.verb file number 29..43"):
        read_synsets(tmp_path, VERB)


@pytest.mark.skipif(not (DEBIAN_WORDNET_DIR / "data.verb").is_file(), reason="wordnet-base is not installed")
def test_real_wordnet_verb_supersenses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTFT_DATA_DIR", raising=False)
    test, train = read_text_set("wordnet-verb-supersenses:test"), read_text_set("wordnet-verb-supersenses")
    assert len(test) == 2_000 and len(test.label_names) == 15 and test.label_names[0] == "verb.body"
    assert train.labels is not None and test.labels is not None
    assert set(np.unique(test.labels).tolist()) == set(range(15))
    assert int((train.labels >= 0).sum()) + len(test) == 13_767  # every verb synset of WordNet 3.0
    assert all(identifier.startswith("data.verb:") for identifier in test.ids)
    assert not {normalise(text) for text in test.texts} & {normalise(text) for text in train.texts}
