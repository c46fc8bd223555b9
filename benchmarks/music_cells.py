"""The lab's music setting (`LAB_CONFIG`) with a GRU and with an LSTM of the same width.

Each cell trains for the same time on O'Neill's tunes, the same seeded 10% of tunes held out,
with everything else of `LAB_CONFIG` (stream windows carrying the state, dropout, Adam clipped
at norm 1 with its learning rate annealed to zero over the time), and is scored on the same
30,000 held-out characters every 50 iterations. Prints one JSON line per cell: parameters,
iterations, seconds per iteration, the best held-out bits/char and the held-out curve
(iteration, seconds, bits/char). Run the cells one after another on a quiet machine: the time
budget makes the figures depend on the CPU's load.

    python benchmarks/music_cells.py [--cells gru lstm] [--seconds 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(cell: str, seconds: float) -> dict:
    """Train the lab's model with `cell` for `seconds`; its figures."""
    from mitdeeplearning import music

    config = music.LAB_CONFIG
    tunes = music.load_tunes("oneills1850")
    vocab = music.Vocab.from_texts(tunes)
    train_tunes, val_tunes = music.split_tunes(tunes, 0.1, seed=0)
    train_ids = vocab.encode(music.join_tunes(train_tunes))
    val_ids = vocab.encode(music.join_tunes(val_tunes))
    model = music.build_model(len(vocab), config["embedding_dim"], config["rnn_units"],
                              cell=cell, dropout=config["dropout"],
                              batch_size=config["batch_size"], stateful=True, seed=0)  # fmt: skip
    result = music.train(model, train_ids, val_ids=val_ids, windows="stream",
                         seq_length=config["seq_length"], batch_size=config["batch_size"],
                         learning_rate=config["learning_rate"], anneal=config["anneal"],
                         iterations=10**6, max_seconds=seconds, eval_every=50,
                         eval_tokens=30_000, progress=False, live_plot=False)  # fmt: skip
    return {
        "cell": cell,
        "parameters": model.count_params(),
        "iterations": result.iterations,
        "seconds": result.seconds,
        "seconds_per_iteration": round(result.seconds / result.iterations, 3),
        "best_val_bits": round(result.best_val_bits, 3),
        "best_iteration": result.best_iteration,
        "curve": [
            [h["iteration"], round(h["seconds"]), round(h["val_bits"], 3)] for h in result.history
        ],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["gru", "lstm"], choices=["gru", "lstm"])
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args()
    for cell in args.cells:
        print(json.dumps(run(cell, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
