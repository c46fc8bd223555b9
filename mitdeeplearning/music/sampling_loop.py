"""The compiled sampling loop: a model's own layers stepped one token at a time, for a batch.

`generate` (`mitdeeplearning.music.sampling`) samples through here. `ModelStepper` finds the
layers of a model by their kind, so that any model made of an Embedding, LSTM or GRU layers
and Dense layers can be stepped, whether `build_model` made it or a student wrote it with
``keras.Sequential``. Each step embeds each tune's last token, advances the recurrent cells
(carrying their state) and gives the logits of the next token. A *sampling step*
(`mitdeeplearning.music.sampling.sampling_step`, or one the student wrote) turns those logits
into the next tokens:

    sampling_step(model_step, token, state, done, seed, temperature, newline)
        -> (next_token, state, done)

`build_sampler` compiles the whole loop into one `tf.function`: it feeds each tune its given
start (the primer, ``X:``, a header), calls the sampling step once per token and stops when
every tune has ended or reached its length. `build_step` compiles a single step, for the
sampler that counts the beats and redraws bars from Python
(`mitdeeplearning.music.bar_sampling`). At temperature 0 the loop picks the most likely token
itself.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from .model import recurrent_layers

__all__ = [
    "ModelStepper",
    "SamplingStepError",
    "build_sampler",
    "build_step",
    "call_compiled",
    "nucleus",
    "step_failure",
]

_NEG_INF = -float("inf")


class SamplingStepError(ValueError):
    """A sampling step of your own did not run inside the compiled loop; the message says why."""


class ModelStepper:
    """A model's layers, found by kind, stepped one token at a time.

    Parameters
    ----------
    model : keras.Model
        Layers in this order: an ``Embedding``, one or more ``LSTM`` or ``GRU`` layers, then
        ``Dense`` layers, the last of which gives logits (no activation); ``Dropout`` layers
        anywhere (inactive when sampling).

    Attributes
    ----------
    state_sizes : list of int
        The width of each state tensor, in order: two per LSTM layer (h, c), one per GRU layer.

    Raises
    ------
    ValueError
        Naming the layer that cannot be stepped, the kind of layer missing, or a last Dense
        layer that does not give logits.
    """

    def __init__(self, model: keras.Model) -> None:
        self.embedding, cells, self.head = None, [], []
        recurrent = recurrent_layers(model)
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer | keras.layers.Dropout):
                continue
            if isinstance(layer, keras.layers.Embedding) and self.embedding is None:
                self.embedding = layer
            elif layer in recurrent and self.embedding is not None and not self.head:
                cells.append(layer.cell)
            elif isinstance(layer, keras.layers.Dense) and cells:
                self.head.append(layer)
            else:
                raise ValueError(
                    f"generate steps a model of an Embedding, then LSTM or GRU layers, then "
                    f"Dense layers, in that order; it cannot step layer {layer.name!r} "
                    f"({type(layer).__name__}) there."
                )
        missing = [kind for kind, found in (("Embedding", self.embedding),
                   ("LSTM or GRU", cells), ("Dense", self.head)) if not found]  # fmt: skip
        if missing:
            raise ValueError(
                "generate needs a model of an Embedding, LSTM or GRU layers and Dense layers "
                f"(see build_model); this one has no {missing[0]} layer."
            )
        activation = getattr(self.head[-1].activation, "__name__", "linear")
        if activation != "linear":
            raise ValueError(
                f"generate reads the model's logits, but its last Dense layer applies "
                f"activation={activation!r}: build that layer without an activation."
            )
        self.cells = cells
        self.sizes = [
            [cell.state_size] if isinstance(cell.state_size, int) else list(cell.state_size)
            for cell in cells
        ]
        self.state_sizes = [size for sizes in self.sizes for size in sizes]

    def zero_state(self, batch) -> list:
        """The zero state for `batch` tunes: one ``(batch, size)`` float32 tensor per size."""
        return [tf.zeros([batch, size]) for size in self.state_sizes]

    def __call__(self, token, state: list) -> tuple:
        """The logits ``(batch, vocab)`` after reading `token` ``(batch,)`` from `state`, and
        the new state (a list like `state`)."""
        x = self.embedding(token[:, None])[:, 0, :]  # (batch, embedding_dim)
        new_state, k = [], 0
        for cell, sizes in zip(self.cells, self.sizes, strict=True):
            x, cell_state = cell(x, list(state[k : k + len(sizes)]))
            k += len(sizes)
            new_state += list(cell_state) if isinstance(cell_state, list | tuple) else [cell_state]
        for dense in self.head:
            x = dense(x)
        return x, new_state


def nucleus(logits, top_p, temperature=1.0):
    """`logits` with every token outside the nucleus set to -inf: the smallest set of most likely
    tokens whose probabilities add up to at least `top_p` (Holtzman et al., "The Curious Case of
    Neural Text Degeneration", ICLR 2020), the probabilities being ``softmax(logits /
    temperature)``. ``(batch, vocab)`` in and out, the logits kept unscaled; `top_p` >= 1 keeps
    all.
    """
    if top_p >= 1:
        return logits
    scaled = logits / temperature
    ranked = tf.sort(scaled, direction="DESCENDING", axis=-1)
    before = tf.math.cumsum(tf.nn.softmax(ranked), axis=-1, exclusive=True)
    kept = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1)  # >= 1: the top token
    threshold = tf.gather(ranked, kept - 1, batch_dims=1)[:, None]
    return tf.where(scaled < threshold, tf.constant(_NEG_INF, logits.dtype), logits)


def _step_outputs(result, state: list) -> tuple:
    """What a sampling step returned, as ``(next_token (batch,) int32, state, done (batch,)
    bool)``; a `SamplingStepError` when it does not keep the contract."""
    if not isinstance(result, tuple | list) or len(result) != 3:
        raise SamplingStepError(
            "your sampling_step must return three things, (next_token, state, done); it "
            f"returned {type(result).__name__}."
        )
    token, new_state, done = result
    new_state = list(new_state) if isinstance(new_state, list | tuple) else [new_state]
    if len(new_state) != len(state):
        raise SamplingStepError(
            f"your sampling_step must return the new state that model_step gave it, a list of "
            f"{len(state)} tensors; it returned {len(new_state)}."
        )
    new_state = [tf.ensure_shape(tf.cast(new, tf.float32), old.shape)
                 for new, old in zip(new_state, state, strict=True)]  # fmt: skip
    token = tf.reshape(tf.cast(token, tf.int32), [-1])
    return token, new_state, tf.reshape(tf.cast(done, tf.bool), [-1])


def _greedy_step(stepper, token, state, done, newline) -> tuple:
    """The sampling step at temperature 0: always the most likely token."""
    logits, state = stepper(token, state)
    sampled = tf.argmax(logits, axis=-1, output_type=tf.int32)
    ends = (token == newline) & (sampled == newline)
    return tf.where(done, newline, sampled), state, done | ends


def build_step(model: keras.Model, sampling_step: Callable) -> tuple[Callable, list[int]]:
    """One compiled sampling step for a batch, its state passed in and out (for `fit_bars`).

    Returns
    -------
    step : tf.function
        ``step(token, state, temperature, top_p, seed, newline) -> (next_token, state)``:
        `sampling_step` once, given no tune as ended (the caller ends tunes itself).
    state_sizes : list of int
        The width of each state tensor.
    """
    stepper = ModelStepper(model)
    specs = [tf.TensorSpec([None, size], tf.float32) for size in stepper.state_sizes]

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32),  # the last token of each tune (batch,)
            specs,  # the state, one (batch, units) tensor per state tensor of the model
            tf.TensorSpec([], tf.float32),  # temperature
            tf.TensorSpec([], tf.float32),  # top_p
            tf.TensorSpec([2], tf.int64),  # seed
            tf.TensorSpec([], tf.int32),  # newline: the id of "\n", or -1
        ]
    )
    def step(token, state, temperature, top_p, seed, newline):
        def model_step(token, state):
            logits, new_state = stepper(token, state)
            return nucleus(logits, top_p, temperature), new_state

        state = list(state)
        done = tf.zeros_like(token, tf.bool)
        result = sampling_step(model_step, token, state, done, seed, temperature, newline)
        sampled, new_state, _ = _step_outputs(result, state)
        return sampled, new_state

    return step, stepper.state_sizes


def build_sampler(model: keras.Model, sampling_step: Callable) -> Callable:
    """The whole sampling loop for a batch, compiled.

    Returns
    -------
    tf.function
        ``sample(prefix, prefix_len, steps, temperature, top_p, seed, stop)``: each row reads
        its prefix (padded to the longest), then `sampling_step` writes its tokens, until
        every row has ended or `steps` tokens are written; returns the ``(batch, steps taken)``
        int32 tokens after each row's first. A blank line (`stop` of two equal tokens, as
        ``"\\n\\n"``) ends a tune by the sampling step's `done`; any other `stop` (a title's
        end, one token, none) by the loop's own rule, after which the tune writes its last
        token. Nothing the prefix holds ends a tune.
    """
    stepper = ModelStepper(model)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32),  # prefix ids (batch, longest prefix)
            tf.TensorSpec([None], tf.int32),  # each row's prefix length (batch,)
            tf.TensorSpec([], tf.int32),  # total steps
            tf.TensorSpec([], tf.float32),  # temperature
            tf.TensorSpec([], tf.float32),  # top_p (1: no nucleus)
            tf.TensorSpec([], tf.int64),  # seed
            tf.TensorSpec([None], tf.int32),  # stop sequence (0, 1 or 2 ids)
        ]
    )
    def sample(prefix, prefix_len, steps, temperature, top_p, seed, stop):
        batch, longest = tf.shape(prefix)[0], tf.shape(prefix)[1]
        state = stepper.zero_state(batch)
        token = prefix[:, 0]
        done = tf.zeros([batch], tf.bool)
        out = tf.TensorArray(tf.int32, size=steps)
        stop_len = tf.shape(stop)[0]
        last_stop = tf.cond(stop_len > 0, lambda: stop[stop_len - 1], lambda: tf.constant(-1))
        first_stop = tf.cond(stop_len > 1, lambda: stop[0], lambda: tf.constant(-1))
        blank = (stop_len == 2) & (first_stop == last_stop)
        newline = tf.where(blank, last_stop, -1)

        def model_step(token, state):
            logits, new_state = stepper(token, state)
            return nucleus(logits, top_p, temperature), new_state

        for t in tf.range(steps):
            if temperature > 0:
                seed_t = tf.stack([seed, tf.cast(t, tf.int64)])
                result = sampling_step(model_step, token, state, done, seed_t, temperature,
                                       newline)  # fmt: skip
                sampled, new_state, step_done = _step_outputs(result, state)
            else:
                sampled, new_state, step_done = _greedy_step(stepper, token, state, done, newline)
            forced = t + 1 < prefix_len  # (batch,): still reading the given start of the tune
            nxt = tf.where(forced, prefix[:, tf.minimum(t + 1, longest - 1)], sampled)
            held = tf.where(done, last_stop, nxt)
            ends = (held == last_stop) & ((token == first_stop) | (stop_len < 2) | done)
            ends &= tf.logical_not(forced) & (stop_len > 0)
            nxt = tf.where(blank, nxt, held)
            done = tf.where(blank, tf.where(forced, done, step_done), done | ends)
            out = out.write(t, nxt)
            token, state = nxt, new_state
            if tf.reduce_all(done):
                break
        return tf.transpose(out.stack())  # (batch, steps_taken)

    return sample


def call_compiled(function: Callable, *args, yours: bool):
    """``function(*args)``, a compiled sampler or step. With `yours` (it calls a sampling step
    that is not the package's), any error becomes a `SamplingStepError` that names the cause
    in one sentence instead of a traceback through TensorFlow's tracing."""
    if not yours:
        return function(*args)
    try:
        return function(*args)
    except AssertionError:
        raise  # a graded check refusing a package function: its own message says it all
    except Exception as error:  # noqa: BLE001 - whatever the student's step raised
        raise SamplingStepError(step_failure(error)) from None


def step_failure(error: Exception) -> str:
    """The sentence that says why a sampling step of your own failed inside the loop.

    Examples
    --------
    >>> step_failure(AttributeError("'SymbolicTensor' object has no attribute 'numpy'"))
    "your sampling_step must use TensorFlow operations: it runs inside tf.function \
(AttributeError: 'SymbolicTensor' object has no attribute 'numpy')."
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    name = type(error).__name__
    last = lines[-1] if lines else ""
    ours = f"{SamplingStepError.__name__}: "
    if isinstance(error, SamplingStepError) or ours in last:  # raised by the loop, maybe wrapped
        return last.rpartition(ours)[2]
    cause = last if last.startswith(f"{name}:") else f"{name}: {last}"
    text = str(error).lower()
    graph = isinstance(error, NotImplementedError | tf.errors.OperatorNotAllowedInGraphError)
    if graph or "symbolic" in text or ("numpy" in text and isinstance(error, AttributeError)):
        return (
            "your sampling_step must use TensorFlow operations: it runs inside tf.function "
            f"({cause})."
        )
    return (
        f"your sampling_step failed inside generate's compiled loop ({cause}); it must follow "
        "the contract of music.sampling_step: sampling_step(model_step, token, state, done, "
        "seed, temperature, newline) -> (next_token, state, done)."
    )
