r"""Sampling that counts the beats: a bar that cannot fit the meter is drawn again.

A character model proposes every note, but nothing in it adds up a bar's lengths: at the
moments it loses count, it closes a bar a note early or late. A musician writing a tune down
counts as they go and rewrites a bar that does not add up. This sampler does the same. Tunes
are sampled as `mitdeeplearning.music.sampling.generate` samples them, all in one batch, each
with its own recurrent state; each time a tune closes a bar (a bar line followed by anything
that does not continue it), the bar just written is measured with the bar arithmetic of
`check_tune` (`mitdeeplearning.music.bar_scanner.BarScanner`: the unit length from ``L:``, the
meter, tuplets, broken rhythm, chords, grace notes...). A bar that cannot fit the meter puts
that tune back where the bar began (its text and its recurrent state) and the model writes the
bar again, up to `redraws` times; then the last try is kept.

## The algorithm

What "cannot fit" means (`bar_fits`) follows the short bars real tunes have, as `check_tune`
excuses them: a bar that lasts the meter fits; a bar longer than the meter never does; a short
bar fits when it is the first (a pickup) or touches a section boundary on either side (a repeat
sign, ``||``, ``|]``, a first or second ending, a new part), where it may be half of a bar split
in two. Where the other half is already written, the two must add up to a whole bar, as
`check_tune` adds them: a short bar that closes a repeat (or comes right before an ending) and
a section that opened short (or a tune that did) make one bar together; a section closed short
with no such partner (``G4 ||`` after a pickup that is not its other half) is no longer the
tune's last bar once another follows, so the bar after it must be that other half. Free meter
(``M:none``) and multi-bar rests are not measured.

The model's proposals are unchanged: the same temperature and nucleus, the same distribution at
every step. Only a bar that would be wrong is refused, so the sampler's validity is not the
model's: the lab prints both.

## Let's test-drive it

>>> header = "X:1\nT:Jig\nM:6/8\nL:1/8\nK:G\n"
>>> bar_fits(header + "GAB cBA |")  # 6/8 in eighths: six of them
True
>>> bar_fits(header + "GAB cBA | BGE E2 |")  # five eighths, between two plain bar lines
False
>>> bar_fits(header + "D | GAB cBA | BGE E2 :|")  # closes a repeat: with the pickup, a bar
True
>>> bar_fits(header + "D | GAB cBA | BGE E :|")  # ... but four eighths and one are not six
False
>>> bar_fits("X:1\nT:Jig\nM:6/8")  # no key line yet: no music to measure
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .abc import COMMENT_PATTERN, FIELD_LINE_PATTERN
from .bar_scanner import Bar, BarScanner, UnreadableTune, section_start
from .vocab import Vocab

__all__ = ["BAR_REDRAWS", "bar_fits", "sample_fitting_bars"]

#: How many times a bar that cannot fit the meter is drawn again before the last try is kept
#: (benchmarks/RESULTS.md: "Bars that fit their meter").
BAR_REDRAWS = 4

# The kinds of bar line (as `BarScanner` names them) beside which a short bar may be half of a
# bar split in two: the start, a repeat sign, "||" or "|]", an ending, a new part, the end.
_BOUNDARY_KINDS = frozenset(
    {"start", "end", "section", "repeat_start", "repeat_end", "ending", "part"}
)
# The kinds of bar line after which a short bar must pair with its section's short opening bar
# (its partner is already written): a repeat's end, or an ending about to start.
_HELD_TO_PARTNER = frozenset({"repeat_end", "ending"})
# The kinds of bar line that end a section (an ending does not): a bar closed by one is whole
# or has its other half before it or right after it.
_SECTION_STARTS = _BOUNDARY_KINDS - {"ending"}
# Characters that may continue a bar line after its "|": "||", "|]", "|:", "|1", "|[2", "|1,3".
_BAR_CONTINUES = set("|:][0123456789,-")


def bar_fits(text: str) -> bool | None:
    r"""Whether the last bar of a tune being written can stay, measured as `check_tune` measures.

    Parameters
    ----------
    text : str
        The start of an ABC tune (header lines, then music) that ends with the bar line closing
        the bar to judge.

    Returns
    -------
    bool or None
        True when the bar lasts what the meter says, or is a short bar where real tunes have
        them (the first, a pickup; one beside a repeat sign, ``||``, ``|]``, an ending or a new
        part); False when it is longer than the meter, short between two plain bar lines, short
        at a repeat's end (or before an ending) when the short bar that opened its section, or
        the tune, does not make a whole bar with it, the bar after a section closed short that
        nothing before it completes and that it does not complete either, or holds a note length
        or tuplet that makes no sense; None when there is nothing to measure (no ``K:`` line
        yet, no bar, free meter, or a meter or unit length that makes no sense).

    Examples
    --------
    >>> reel = "X:1\nM:C|\nL:1/8\nK:D\n"
    >>> bar_fits(reel + "DFAF GFED |"), bar_fits(reel + "DFAF GFED | FAdA BGE |")
    (True, False)
    >>> bar_fits(reel + "DFAF GFED | FAdA BGEGA |")  # nine eighths
    False
    """
    lines = text.split("\n")
    header: dict[str, str] = {}
    body_start = None
    for i, raw in enumerate(lines):
        line = COMMENT_PATTERN.sub("", raw).rstrip()
        field = FIELD_LINE_PATTERN.match(line)
        if field and field.group(1) == "K":
            body_start = i + 1
            break
        if field:
            header.setdefault(field.group(1), line[2:])
    if body_start is None or "M" not in header:
        return None
    try:
        scanner = BarScanner(header["M"], header.get("L"))
    except UnreadableTune:
        return None
    try:
        for number in range(body_start, len(lines)):
            line = COMMENT_PATTERN.sub("", lines[number]).rstrip()
            field = FIELD_LINE_PATTERN.match(line)
            if field:
                scanner.field(field.group(1), line[2:])
            elif line:
                scanner.line(line, number + 1)
    except UnreadableTune:
        return False  # the bar just written holds a length or tuplet that makes no sense
    bars = scanner.bars()
    if not bars:
        return None
    bar = bars[-1]
    if bar.bar_length is None:
        return None
    if len(bars) > 1 and not _closes_the_open_half(bars):
        return False
    if bar.multirest_bars or bar.duration == bar.bar_length:
        return True
    if bar.duration > bar.bar_length:
        return False
    if len(bars) == 1:
        return True  # a pickup
    if not (bar.left | bar.right) & _BOUNDARY_KINDS:
        return False
    return _closing_half_fits(bars)


def _closes_the_open_half(bars: list[Bar]) -> bool:
    """Whether the last of `bars` leaves the bar before it whole, if that bar closed a section
    short and nothing written before it makes a whole bar with it.

    Such a bar (``G4 ||`` in 3/4 after a pickup of one quaver) is not the tune's last, since a
    bar follows: `check_tune` excuses it only if the bar after it is the other half.
    """
    index = len(bars) - 2
    before = bars[index]
    if (
        index == 0
        or before.bar_length is None
        or before.multirest_bars
        or before.duration >= before.bar_length
        or not before.right & _SECTION_STARTS
    ):
        return True
    partners = {section_start(bars, index), 0}
    if before.left & _BOUNDARY_KINDS:
        partners.add(index - 1)
    partners -= {index}
    if any(
        bars[k].duration < before.bar_length
        and bars[k].duration + before.duration == before.bar_length
        for k in partners
    ):
        return True
    last = bars[-1]
    return (
        last.duration < before.bar_length and last.duration + before.duration == before.bar_length
    )


def _closing_half_fits(bars: list[Bar]) -> bool:
    """Whether the last of `bars`, short and beside a section boundary, can still be half of a
    bar split in two, as `check_tune` pairs the halves.

    Only a bar that closes a repeat (``:|``, ``::``) or comes right before an ending is held to
    its partner here, since that partner is already written: the short bar that opened its
    section (the first bar after the last repeat sign, ``||`` or new part) or the tune's first
    bar, whichever is short, must make a whole bar with it. Other short bars beside a boundary
    may still pair with a bar not yet written (the next section's pickup, the close of the
    section they open) or be the tune's last bar, which `check_tune` excuses: they stay.
    """
    index = len(bars) - 1
    bar = bars[index]
    if not bar.right & _HELD_TO_PARTNER:
        return True
    partners = {section_start(bars, index), 0}
    if bar.left & _BOUNDARY_KINDS:
        partners.add(index - 1)  # a short first ending: the bar before it
    short = [bars[k].duration for k in partners - {index} if bars[k].duration < bar.bar_length]
    return not short or any(bar.duration + half == bar.bar_length for half in short)


#: One sampling step for a batch: ``step(tokens, states, seed_step) -> (sampled, new_states)``,
#: tokens ``(batch,) int32``, states a list of ``(batch, units) float32`` arrays.
Step = Callable[[np.ndarray, list, int], tuple[np.ndarray, list]]


def sample_fitting_bars(
    step: Step,
    states: list,
    vocab: Vocab,
    rows: Sequence[np.ndarray],
    *,
    total_length: int,
    skip: int,
    stop_ids: np.ndarray,
    redraws: int = BAR_REDRAWS,
) -> tuple[list[np.ndarray], list[int]]:
    """Sample one tune per row of `rows` (each read first, then continued), redrawing bars that
    cannot fit the meter; the tunes advance together, one `step` for the whole batch.

    Long, on purpose: the loop keeps each tune's text, state and bar start together in one
    place, where a reader can follow one tune through a redraw.

    Parameters
    ----------
    step : callable
        ``step(tokens, states, t)``: feeds each tune's last token ``(batch,) int32`` to the
        model from `states` (a list of ``(batch, units) float32`` arrays), and returns the
        sampled next tokens ``(batch,)`` and the new states; `t` counts calls (the seed's step).
    states : list of ndarray
        The zero state, one ``(len(rows), units)`` array per state tensor of the model.
    vocab : Vocab
        A character vocabulary (the tunes are ABC text).
    rows : sequence of int arrays
        Each tune's given start (primer, ``X:`` and any header), read before sampling.
    total_length : int
        The most tokens a row may hold, its given start included.
    skip : int
        How many tokens of each row come before the tune's text (the primer): not measured.
    stop_ids : ndarray
        One or two ids that end a tune (kept in the output; empty: no stop).
    redraws : int
        How many times one bar may be drawn again; then the last try is kept.

    Returns
    -------
    sequences : list of ndarray
        Each tune's ids, its given start included (and its stop, if it wrote one).
    bars_redrawn : list of int
        How many bars each tune drew again.
    """
    n = len(rows)
    given = np.array([len(r) for r in rows])
    buffer = np.zeros((n, total_length), np.int32)
    for i, row in enumerate(rows):
        buffer[i, : len(row)] = row
    length = np.ones(n, np.int64)  # tokens written so far (the first is read as given)
    is_pipe = np.array([vocab.tokens[k] == "|" for k in range(len(vocab))])
    continues = np.array([vocab.tokens[k] in _BAR_CONTINUES for k in range(len(vocab))])
    newline = np.array([vocab.tokens[k] == "\n" for k in range(len(vocab))])
    last_stop = int(stop_ids[-1]) if len(stop_ids) else -1
    first_stop = int(stop_ids[0]) if len(stop_ids) > 1 else None
    redrawn = np.zeros(n, np.int64)
    tries = np.zeros(n, np.int64)  # redraws of each tune's current bar
    pending = np.zeros(n, bool)  # a bar line was written: judge the bar when the line ends
    active = np.arange(n)  # the tunes still being written, in batch order
    token = buffer[:, 0].copy()
    # Where each tune's current bar began: the state before reading the token there, that
    # token, and the text's length with it.
    bar_states, bar_token, bar_length = [s.copy() for s in states], token.copy(), length.copy()
    for t in range(total_length * (redraws + 1)):
        if not active.size:
            break
        sampled, new_states = step(token, states, t)
        forced = length[active] < given[active]
        nxt = np.where(forced, buffer[active, np.minimum(length[active], total_length - 1)],
                       sampled).astype(np.int32)  # fmt: skip
        previous = buffer[active, length[active] - 1]
        buffer[active, length[active]] = nxt
        length[active] += 1
        fire = pending[active] & ~continues[nxt] & ~forced
        pending[active] = (pending[active] & ~fire) | (is_pipe[nxt] & ~forced)
        # Judge each bar that just closed: keep it (its end is the next bar's start) or go back.
        keep = (newline[token] & ~forced) | (length[active] == given[active])
        back = np.zeros(len(active), bool)
        for j in np.flatnonzero(fire):
            i = active[j]
            verdict = bar_fits(vocab.decode(buffer[i, skip : length[i] - 1]))
            if verdict is False and tries[i] < redraws:
                back[j] = True
                tries[i] += 1
                redrawn[i] += 1
            else:
                keep[j] = True
                tries[i] = 0
        keep &= ~back
        for j in np.flatnonzero(keep):  # the bar starts after the token just read
            bar_length[active[j]] = length[active[j]] - 1
        bar_token[active[keep]] = token[keep]
        for kept, old in zip(bar_states, states, strict=True):  # few rows: copy only those
            kept[keep] = old[keep]
        if back.any():
            new_states = [np.where(back[:, None], kept, new) for kept, new in
                          zip(bar_states, new_states, strict=True)]  # fmt: skip
        states = new_states
        length[active[back]] = bar_length[active[back]]
        pending[active[back]] = False
        token = np.where(back, bar_token[active], nxt).astype(np.int32)
        ends = (nxt == last_stop) & ~forced & ~back
        if first_stop is not None:
            ends &= previous == first_stop
        done = ends | (length[active] >= total_length)
        if done.any():  # drop finished tunes from the batch
            kept_rows = ~done
            active, token = active[kept_rows], token[kept_rows]
            states = [s[kept_rows] for s in states]
            bar_states = [s[kept_rows] for s in bar_states]
    sequences = [buffer[i, : length[i]].copy() for i in range(n)]
    return sequences, redrawn.tolist()
