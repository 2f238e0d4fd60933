"""Matching quality benchmark: the pure scorer on labelled, in-memory candidates (no database).

    python bench/matching_quality.py [--canonical 20000] [--incoming 5000] [--seed 2]
                                     [--sets 1] [--fit [--fit-seed 1] [--fit-sets 4] [--l2 1.0]]
                                     [--fs em|em-fix-u|default]
                                     [--no-images]
                                     [--name-only-without-location]
                                     [--auto 0.8] [--review 0.5] [--margin 0.1] [--examples N]

1. generates a labelled set (`listings_dev.labelled.generate`) with `--seed`;
2. normalises every row into a `MatchRecord` (`labelled.match_record`: the pipeline's normalisers and
   category vocabulary), blocks candidates in memory like the database does (same postal key, within
   500 m, same city with trigram-similar names), computes `pair_features` and `confidence` for every
   candidate pair, and applies `decide` to each incoming record;
3. prints auto-merge precision, recall of true duplicates (auto-merged + sent to review with the true
   listing among those shown), review rate, new-listing accuracy, false merges of chain branches and
   neighbours, outcomes per kind of record, a reliability table (calibration) and the speed of each step.

`--fs em` scores with a Fellegi-Sunter model (`listings.matching.fellegi_sunter`) that EM estimates on each
evaluated set's own candidate pairs without looking at the labels (u on 20,000 random pairs of its
records, term frequencies from its records); `--fs default` uses `DEFAULT_FS_MODEL`; `--fs em-fix-u` keeps u
from random pairs (Splink's training setting), for comparison.

`--sets N` evaluates N sets (seeds `--seed` to `--seed + N - 1`) and reports them together: mid-range
confidences are rare, so calibration needs many pairs. `--fit` first fits a model on other labelled sets
(seeds `--fit-seed + 1000 k`, which must not be evaluated for an honest held-out figure), prints it as the `DEFAULT_MODEL = Model(...)` literal of `scoring.py`, and
evaluates that model; without it `DEFAULT_MODEL` is evaluated. The targets (auto-merge precision >= 0.99,
recall >= 0.97, review rate <= 10% of incoming) are printed with the figures; the exit status is 0 either
way: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from listings.matching.features import Features, pair_features
from listings.matching.scoring import DEFAULT_MODEL, TERM_NAMES, Decision, Model, confidence, decide, fit
from listings.transform.categories import load_vocabulary
from listings_dev.labelled import (
    KINDS,
    LabelledPair,
    LabelledSet,
    candidates,
    generate,
    labelled_pairs,
    match_record,
)

TARGETS = {"precision": 0.99, "recall": 0.97, "review_rate": 0.10}


def model_literal(model: Model) -> str:
    lines = ["DEFAULT_MODEL = Model(", "    weights=("]
    lines += [
        f"        {round(w, 4) + 0.0:.4f},  # {name}"
        for name, w in zip(TERM_NAMES, model.weights, strict=True)
    ]
    lines += ["    ),", f"    bias={model.bias:.4f},", ")"]
    return "\n".join(lines).replace("-0.0000,", "0.0000,")


def reliability(
    scored: Sequence[tuple[float, bool]], bins: int = 10
) -> list[tuple[float, float, int, float, float]]:
    """(low, high, n, mean predicted, observed rate) per confidence bin."""
    rows = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in scored if low <= p < high or (b == bins - 1 and p == 1.0)]
        if inside:
            mean_p = sum(p for p, _ in inside) / len(inside)
            rate = sum(1 for _, y in inside if y) / len(inside)
            rows.append((low, high, len(inside), mean_p, rate))
        else:
            rows.append((low, high, 0, float("nan"), float("nan")))
    return rows


def expected_calibration_error(scored: Sequence[tuple[float, bool]], bins: int = 10) -> float:
    total = len(scored)
    return sum(n / total * abs(mp - rate) for _, _, n, mp, rate in reliability(scored, bins) if n)


def timed_pairs(
    ls: LabelledSet, *, with_images: bool, **blocking: Any
) -> tuple[list[LabelledPair], dict[str, list[str]], dict[str, float]]:
    """`labelled_pairs`, step by step, with the seconds each step took."""
    vocab = load_vocabulary()
    t0 = time.perf_counter()
    can = {row["source_id"]: match_record(row, vocabulary=vocab) for row in ls.canonical}
    inc = {row["source_id"]: match_record(row, vocabulary=vocab) for row in ls.incoming}
    if not with_images:
        can = {k: replace(v, image_hashes=()) for k, v in can.items()}
        inc = {k: replace(v, image_hashes=()) for k, v in inc.items()}
    t1 = time.perf_counter()
    found = candidates(can, inc, **blocking)
    t2 = time.perf_counter()
    compat = vocab.compatible
    pairs = [
        LabelledPair(iid, cid, pair_features(inc[iid], can[cid], compat=compat), ls.truth[iid] == cid)
        for iid, cids in found.items()
        for cid in cids
    ]
    t3 = time.perf_counter()
    return pairs, found, {"normalise": t1 - t0, "blocking": t2 - t1, "features": t3 - t2}


def evaluate(
    ls: LabelledSet,
    pairs: Sequence[LabelledPair],
    found: dict[str, list[str]],
    model: Model,
    *,
    auto: float,
    review: float,
    margin: float,
) -> tuple[dict[str, Decision], list[tuple[float, bool]], float]:
    """Decisions per incoming id, (confidence, truth) per pair, and seconds spent in `confidence`."""
    by_incoming: dict[str, list[tuple[str, Features]]] = defaultdict(list)
    for p in pairs:
        by_incoming[p.incoming_id].append((p.canonical_id, p.features))
    ids = {cid: k for k, cid in enumerate(sorted(row["source_id"] for row in ls.canonical))}
    start = time.perf_counter()
    scores = [confidence(p.features, model) for p in pairs]
    elapsed = time.perf_counter() - start
    score_of = {(p.incoming_id, p.canonical_id): s for p, s in zip(pairs, scores, strict=True)}
    decisions: dict[str, Decision] = {}
    for iid in found:
        cands = by_incoming.get(iid, [])
        decisions[iid] = decide(
            [(ids[cid], score_of[(iid, cid)]) for cid, _ in cands],
            auto_threshold=auto,
            review_threshold=review,
            margin=margin,
            features={ids[cid]: f for cid, f in cands},
            model=model,
        )
    return decisions, [(s, p.is_match) for p, s in zip(pairs, scores, strict=True)], elapsed


def fs_model(ls: LabelledSet, pairs: Sequence[LabelledPair], *, mode: str) -> Any:
    """A Fellegi-Sunter model for one set: the default, or estimated by EM on its candidate pairs (no labels)."""
    import random as _random

    from listings.matching import fellegi_sunter as fs

    if mode == "default":
        return fs.DEFAULT_FS_MODEL
    vocab = load_vocabulary()
    records = [match_record(r, vocabulary=vocab) for r in (*ls.canonical, *ls.incoming)]
    rng = _random.Random(14)
    randoms = []
    for _ in range(20_000):
        a, b = rng.sample(range(len(records)), 2)
        randoms.append(pair_features(records[a], records[b], compat=vocab.compatible))
    counts = fs.level_counts(randoms)
    u_random = fs.u_from_counts(counts)
    tf = {
        "name": fs.tf_table((r.name_key for r in records), above=max(fs.EPS, u_random["name"][0]))[0],
        "phone": fs.tf_table((r.phone for r in records), above=max(fs.EPS, u_random["phone"][0]))[0],
        "website": fs.tf_table((r.website_host for r in records), above=max(fs.EPS, u_random["website"][0]))[
            0
        ],
    }
    return fs.estimate([p.features for p in pairs], random_counts=counts, tf=tf, fix_u=mode == "em-fix-u")


def fs_summary(model: Any, seed: int) -> str:
    lines = [f"seed {seed}: Fellegi-Sunter prior {model.prior:.4f} {dict(model.meta)}"]
    lines += [f"  {f:<9} {lv:<18} m {m:.4f}  u {u:.4f}  w {w:+.2f}" for f, lv, m, u, w in model.describe()]
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--canonical", type=int, default=20_000)
    parser.add_argument("--incoming", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=2, help="seed of the (first) evaluated set")
    parser.add_argument("--sets", type=int, default=1, help="evaluate this many sets (seeds from --seed)")
    parser.add_argument("--fit", action="store_true", help="fit a model on --fit-seed first and evaluate it")
    parser.add_argument("--fit-seed", type=int, default=1)
    parser.add_argument(
        "--fit-sets", type=int, default=4, help="fit on this many sets: seeds fit-seed + 1000 k"
    )
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument(
        "--fs",
        choices=("em", "em-fix-u", "default"),
        help="score with a Fellegi-Sunter model: 'em' estimates it unsupervised on each evaluated set's own"
        " candidate pairs (random pairs and TF tables from the set's records; labels unused); 'em-fix-u'"
        " keeps u from random pairs (Splink's training setting); 'default' uses DEFAULT_FS_MODEL",
    )
    parser.add_argument("--no-images", action="store_true", help="drop perceptual hashes (no photos known)")
    parser.add_argument(
        "--name-only-without-location",
        action="store_true",
        help="name block only for records with neither pin nor postal code, as the database query does",
    )
    parser.add_argument("--auto", type=float, default=0.8)
    parser.add_argument("--review", type=float, default=0.5)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--examples", type=int, default=0, help="print this many errors of each kind")
    args = parser.parse_args(argv)
    blocking = {"name_only_without_location": args.name_only_without_location}

    model = DEFAULT_MODEL
    if args.fit:
        t0 = time.perf_counter()
        fit_seeds = [args.fit_seed + 1000 * k for k in range(args.fit_sets)]
        train: list[tuple[Features, bool]] = []
        for seed in fit_seeds:
            train_set = generate(args.canonical, args.incoming, seed=seed)
            train_pairs, _ = labelled_pairs(train_set, with_images=not args.no_images, **blocking)
            train += [(p.features, p.is_match) for p in train_pairs]
        model = fit(train, l2=args.l2)
        elapsed = time.perf_counter() - t0
        print(f"fitted on seeds {', '.join(map(str, fit_seeds))}: {len(train):,} pairs in {elapsed:.1f} s")
        print(model_literal(model))
        print()

    seeds = list(range(args.seed, args.seed + args.sets))
    if args.fit and {args.fit_seed + 1000 * k for k in range(args.fit_sets)} & set(seeds):
        print("warning: the fit seed is among the evaluated seeds: not held out", file=sys.stderr)
    outcome: dict[tuple[int, str], str] = {}
    kinds: dict[tuple[int, str], str] = {}
    truth: dict[tuple[int, str], str | None] = {}
    decisions: dict[tuple[int, str], Decision] = {}
    rows: dict[tuple[int, str], dict[str, str]] = {}
    scored: list[tuple[float, bool]] = []
    timings: defaultdict[str, float] = defaultdict(float)
    n_pairs = n_blocked = n_canonical = 0
    for seed in seeds:
        t0 = time.perf_counter()
        ls = generate(args.canonical, args.incoming, seed=seed)
        timings["generate"] += time.perf_counter() - t0
        pairs, found, step_times = timed_pairs(ls, with_images=not args.no_images, **blocking)
        for step, seconds in step_times.items():
            timings[step] += seconds
        if args.fs:
            t0 = time.perf_counter()
            model = fs_model(ls, pairs, mode=args.fs)
            timings["em"] += time.perf_counter() - t0
            print(fs_summary(model, seed), file=sys.stderr)
        set_decisions, set_scored, t_confidence = evaluate(
            ls, pairs, found, model, auto=args.auto, review=args.review, margin=args.margin
        )
        timings["confidence"] += t_confidence
        scored += set_scored
        n_pairs += len(pairs)
        n_canonical += len(ls.canonical)
        n_blocked += sum(1 for i, t in ls.truth.items() if t is not None and t in found[i])
        id_of = dict(enumerate(sorted(row["source_id"] for row in ls.canonical)))
        rows.update({(seed, r["source_id"]): r for r in (*ls.canonical, *ls.incoming)})
        for iid, d in set_decisions.items():
            key = (seed, iid)
            target = ls.truth[iid]
            chosen = id_of[d.candidate_id] if d.candidate_id is not None else None
            if d.action == "auto_merge":
                result = "auto_ok" if chosen == target else "auto_wrong"
            elif d.action == "review":
                # The reviewer sees the best candidate and the close alternatives.
                on_screen = {chosen, *(id_of[c] for c, _ in d.alternatives)}
                result = "review_has_truth" if target is not None and target in on_screen else "review_other"
            else:
                result = "new"
            outcome[key], kinds[key], truth[key] = result, ls.kinds[iid], target
            decisions[key] = d
            if chosen is not None:
                rows[(seed, f"chosen:{iid}")] = rows[(seed, chosen)]

    n_in = len(outcome)
    dups = [k for k, t in truth.items() if t is not None]
    news = [k for k, t in truth.items() if t is None]
    counts = Counter(outcome.values())
    auto_total = counts["auto_ok"] + counts["auto_wrong"]
    precision = counts["auto_ok"] / auto_total if auto_total else 1.0
    recall = sum(1 for k in dups if outcome[k] in ("auto_ok", "review_has_truth")) / max(1, len(dups))
    auto_recall = sum(1 for k in dups if outcome[k] == "auto_ok") / max(1, len(dups))
    reviews = sum(1 for d in decisions.values() if d.action == "review")
    review_types = Counter(d.review_type for d in decisions.values() if d.action == "review")
    new_ok = sum(1 for k in news if decisions[k].action == "new")
    decided_new = [k for k, d in decisions.items() if d.action == "new"]
    new_precision = sum(1 for k in decided_new if truth[k] is None) / max(1, len(decided_new))
    blocked = n_blocked / max(1, len(dups))
    rate = reviews / max(1, n_in)
    wrong = Counter(kinds[k] for k, o in outcome.items() if o == "auto_wrong")

    print(
        f"labelled sets: seeds {', '.join(map(str, seeds))}: {n_canonical:,} canonical, {n_in:,} incoming "
        f"({len(dups):,} duplicates, {len(news):,} new), generated in {timings['generate']:.1f} s"
    )
    print(
        f"candidates: {n_pairs:,} pairs ({n_pairs / max(1, n_in):.1f} per record), blocking recall "
        f"{blocked:.4f}; images {'off' if args.no_images else 'on'}"
    )
    print(f"thresholds: auto > {args.auto}, review >= {args.review}, margin {args.margin}")
    print()
    print(
        f"auto-merge precision   {precision:.4f}  ({counts['auto_ok']:,} right / {auto_total:,})"
        f"   target >= {TARGETS['precision']}  {_verdict(precision >= TARGETS['precision'])}"
    )
    print(
        f"recall (auto + review) {recall:.4f}  (auto alone {auto_recall:.4f})"
        f"   target >= {TARGETS['recall']}  {_verdict(recall >= TARGETS['recall'])}"
    )
    print(
        f"review rate            {rate:.4f}  ({reviews:,}: {dict(review_types)})"
        f"   target <= {TARGETS['review_rate']}  {_verdict(rate <= TARGETS['review_rate'])}"
    )
    print(
        f"new-listing accuracy   {new_ok / max(1, len(news)):.4f}  (true new decided new; "
        f"{new_precision:.4f} of 'new' decisions are new)"
    )
    print(
        f"false merges           {counts['auto_wrong']}: "
        f"chain {wrong['new_chain_branch'] + wrong['duplicate_chain']}, "
        f"neighbour {wrong['new_neighbour'] + wrong['duplicate_neighbour']}, "
        f"other {wrong['new'] + wrong['duplicate']}"
    )
    print()
    print(f"{'kind':<20} {'n':>6} {'auto ok':>8} {'auto wrong':>10} {'review':>7} {'new':>6}")
    for kind in KINDS:
        ids = [k for k in truth if kinds[k] == kind]
        if ids:
            c = Counter(outcome[k] for k in ids)
            print(
                f"{kind:<20} {len(ids):>6} {c['auto_ok']:>8} {c['auto_wrong']:>10} "
                f"{c['review_has_truth'] + c['review_other']:>7} {c['new']:>6}"
            )
    print()
    print("reliability (every candidate pair):")
    print(f"{'confidence':<12} {'pairs':>7} {'mean predicted':>15} {'observed':>9}")
    for low, high, n, mean_p, obs in reliability(scored):
        cells = f"{mean_p:>15.3f} {obs:>9.3f}" if n else f"{'-':>15} {'-':>9}"
        print(f"{low:.1f}-{high:.1f}     {n:>7} {cells}")
    print(f"expected calibration error {expected_calibration_error(scored):.4f}")
    print()
    n_records = n_canonical + n_in
    score_time = timings["features"] + timings["confidence"]
    print(
        f"time: normalise {n_records:,} records {timings['normalise']:.1f} s "
        f"({n_records / timings['normalise']:,.0f}/s); in-memory blocking {timings['blocking']:.1f} s; "
        f"pair_features {n_pairs / timings['features']:,.0f} pairs/s; "
        f"confidence {n_pairs / timings['confidence']:,.0f} pairs/s; "
        f"both {n_pairs / score_time:,.0f} pairs/s"
    )

    if args.examples:

        def show(key: tuple[int, str | None]) -> str:
            if key[1] is None:
                return "-"
            r = rows[(key[0], key[1])]
            return (
                f"{r['name']!r} | {r['address1']} | {r['city']} {r['zip']} | {r['phone']} | "
                f"{r['website']} | {r['lat']},{r['lng']}"
            )

        groups = {
            "false merges": [k for k, o in outcome.items() if o == "auto_wrong"],
            "duplicates reviewed without the true listing": [k for k in dups if outcome[k] == "review_other"],
            "duplicates decided new": [k for k in dups if outcome[k] == "new"],
        }
        for label, keys in groups.items():
            print(f"\n--- {label} ({len(keys)}) ---")
            for seed, iid in keys[: args.examples]:
                d = decisions[(seed, iid)]
                print(f"[{kinds[(seed, iid)]}] in:    {show((seed, iid))}")
                print(f"          truth: {show((seed, truth[(seed, iid)]))}")
                if d.candidate_id is not None:
                    print(f"          chose: {show((seed, f'chosen:{iid}'))}")
                print(f"          {d.action} {d.confidence:.3f}: {d.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
