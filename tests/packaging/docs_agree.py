#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The documentation names what the code takes: every directive the configuration parser knows
(strgd --directives, read from the parser's own tables) has an entry in strg.conf(5); every
strgctl verb (strgctl --verbs) has one in strgctl(8) and a line in `strgctl help`; every verb
that takes -j is named under -j in strgctl(8); README, strg.conf(5) and strgd(8) list exactly
the settings control/reload.c reports as needing a restart. Prints "ok NAME" or "FAIL NAME:
why" per check; exit 1 when one failed.

Usage: docs_agree.py STRGD STRGCTL"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "user" / "man"
failed = 0


def result(name, missing):
    global failed
    if missing:
        failed += 1
        print("FAIL %s: %s" % (name, "; ".join(missing)))
    else:
        print("ok   %s" % name)


def plain(roff):
    """A roff line's text: escapes and font changes gone, dashes plain, quotes dropped."""
    text = re.sub(r"\\f(\[[^]]*\]|.)", "", roff)
    text = text.replace("\\-", "-").replace("\\|", "").replace("\\~", " ")
    text = re.sub(r"\\\((lq|rq)", "", text)
    return text.replace('"', "")


def words(text):
    return re.findall(r"[a-z0-9][a-z0-9-]*", text.lower())


def headings(page):
    """The word lists of a man page's item headings (the line after each .TP)."""
    lines = (MAN / page).read_text().splitlines()
    out = []
    for prev, line in zip(lines, lines[1:]):
        if prev.startswith(".TP") and re.match(r"\.B[IR]?\s", line):
            out.append(words(plain(line.split(None, 1)[1])))
    return out


def has_entry(heads, name):
    """An entry for "first [second]": a heading that starts with the first word and names
    the second ("limit syn" is under ".BR "limit syn" | packets")."""
    first, *rest = name.split()
    return any(h and h[0] == first and all(w in h for w in rest) for h in heads)


def page_text(page):
    return (MAN / page).read_text()


def run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode:
        sys.exit("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def marked_list(path, begin, end, pattern):
    """The names between two marker lines (or inline markers) of a document."""
    text = path.read_text()
    m = re.search(re.escape(begin) + r"(.*?)" + re.escape(end), text, re.S)
    if not m:
        return None
    found = re.findall(pattern, m.group(1), re.M)
    return {plain("".join(n) if isinstance(n, tuple) else n).strip() for n in found}


def route_words():
    """The literal words of a route line (ROUTE_GRAMMAR in core/route.h): percent, exact...;
    the gateway options' (ROUTEGW_GRAMMAR in core/routegw.h) and the shadow's options'
    (SHADOW_GRAMMAR in core/shadowspec.h), which it names by their macros."""
    text = (ROOT / "user" / "core" / "route.h").read_text()
    m = re.search(r"#define ROUTE_GRAMMAR((?:.*\\\n)*.*)", text)
    grammar = "".join(re.findall(r'"([^"]*)"', m.group(1))) if m else ""
    for header, name in (("routegw.h", "ROUTEGW_GRAMMAR"), ("shadowspec.h", "SHADOW_GRAMMAR")):
        part = (ROOT / "user" / "core" / header).read_text()
        g = re.search(r"#define %s((?:.*\\\n)*.*)" % name, part)
        grammar += " " + ("".join(re.findall(r'"([^"]*)"', g.group(1))) if g else "")
    return [w for w in re.findall(r"[a-z][a-z0-9-]*", grammar)]


def restart_lists():
    """What reload.c reports as needing a restart, and what each document says."""
    code = (ROOT / "user" / "control" / "reload.c").read_text()
    said = set()
    for call in re.findall(r"NEEDS_RESTART\((.*?)\);", code, re.S):
        if not call.startswith("cond,"):
            said.add(re.findall(r'"([^"]+)"', call)[-1])
    # Man pages: between ".\" restart-settings begin" and "end", one .B or .BR line a name.
    # (.BR: its first argument, the rest is punctuation; .B: the whole line.)
    roff = r'^\.BR +("[^"]+"|\S+)|^\.B +(.+)$'
    docs = {
        "README.md": marked_list(ROOT / "README.md", "<!-- restart-settings -->",
                                 "<!-- /restart-settings -->", r"`([^`]+)`"),
        "strg.conf(5)": marked_list(MAN / "strg.conf.5", '.\\" restart-settings begin',
                                    '.\\" restart-settings end', roff),
        "strgd(8)": marked_list(MAN / "strgd.8", '.\\" restart-settings begin',
                                '.\\" restart-settings end', roff),
    }
    return said, docs


def main():
    strgd, strgctl = sys.argv[1:3]
    directives = run(strgd, "--directives").split("\n")[:-1]
    conf = headings("strg.conf.5")
    result("strg_conf_5_names_every_directive (%d)" % len(directives),
           [d for d in directives if not has_entry(conf, d)])

    verbs = [v.strip() for v in run(strgctl, "--verbs").splitlines()]
    ctl = headings("strgctl.8")
    result("strgctl_8_names_every_verb (%d)" % len(verbs),
           [v for v in verbs if not has_entry(ctl, v)])
    # A command's line in the help: "  strgctl [-s SOCKET] [-j] NOUN VERB ARGUMENTS".
    usage = [words(m.group(1)) for m in re.finditer(r"^  strgctl(?: \[-[^]]*\])* (.*)$",
                                                     run(strgctl, "help"), re.M)]
    result("strgctl_help_names_every_verb",
           [v for v in verbs if not any(u[:len(v.split())] == v.split() for u in usage)])

    spec = re.search(r"^In the descriptions below,\n(.*?)^\.RE", page_text("strgctl.8"),
                     re.M | re.S)
    spec = words(plain(spec.group(1))) if spec else []
    helped = words(run(strgctl, "help", "route", "set"))
    route = route_words()
    result("route_spec_words_in_strgctl_8_and_help (%d)" % len(route),
           ["strgctl(8) SPEC lacks " + w for w in route if w not in spec] +
           ["strgctl help route set lacks " + w for w in route if w not in helped] +
           ([] if route else ["no ROUTE_GRAMMAR in core/route.h"]))

    takes_j = r"^  strgctl(?: \[-[^]]*\])*? \[-j\](?: \[-[^]]*\])* (\w+(?: [a-z]+)?)"
    json_verbs = [" ".join(words(m.group(1))[:2])
                  for m in re.finditer(takes_j, run(strgctl, "help"), re.M)]
    page = (MAN / "strgctl.8").read_text()
    m = re.search(r"^\.BR \\-j .*?\n(.*?)^\.TP", page, re.M | re.S)
    jtext = " ".join(words(plain(m.group(1)))) if m else ""
    result("strgctl_8_j_names_every_verb_that_takes_it (%d)" % len(json_verbs),
           [v for v in json_verbs if v not in jtext] or ([] if json_verbs else ["none in help"]))

    said, docs = restart_lists()
    missing = []
    for doc, listed in docs.items():
        if listed is None:
            missing.append("%s has no marked list of restart settings" % doc)
        elif listed != said:
            missing.append("%s: lacks %s, has extra %s" % (doc, sorted(said - listed),
                                                           sorted(listed - said)))
    result("restart_settings_agree_with_reload_c (%d)" % len(said),
           missing if said else ["no NEEDS_RESTART found in control/reload.c"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
