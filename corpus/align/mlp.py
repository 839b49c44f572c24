"""The hybrid stage's frame classifier: a small ReLU MLP on spliced log-mel frames, in plain numpy.

Training is minibatch Adam on cross-entropy against the current alignment's classes; spliced inputs
are gathered per minibatch from the [frames, 40] feature matrix (so memory holds 40 numbers per frame,
not 40 x context). Inference is a few float32 matrix products (`log_posteriors`), so executors and
pool workers need neither TensorFlow nor a GPU. Weights live in the model's .npz.
"""

from __future__ import annotations

import numpy as np

from corpus.engines import one_blas_thread

__all__ = ["MLP"]


class MLP:
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.weights = [np.ascontiguousarray(w, np.float32) for w in weights]
        self.biases = [np.ascontiguousarray(b, np.float32) for b in biases]

    @staticmethod
    def create(sizes: list[int], rng: np.random.Generator) -> "MLP":
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            weights.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32))
            biases.append(np.zeros(fan_out, np.float32))
        return MLP(weights, biases)

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[0]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[1]

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, np.float32)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = h @ w
            h += b
            np.maximum(h, 0.0, out=h)
        out = h @ self.weights[-1]
        out += self.biases[-1]
        return out

    def log_posteriors(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        return z

    def train(self, gather, labels: np.ndarray, *, epochs: int, rng: np.random.Generator, batch: int = 512,
              lr: float = 1e-3, weight_decay: float = 1e-5, label_smoothing: float = 0.05,
              progress=None) -> float:
        """Adam on cross-entropy. `gather(indices) -> [B, n_inputs]` builds inputs for frame indices.

        Returns the mean training loss of the last epoch. Runs on one BLAS thread: products of 512-frame
        minibatches gain nothing from more, and on a busy machine their spinning threads made an epoch 6x
        slower (19 s vs 3 s for 32k frames, 2 cores).
        """
        with one_blas_thread():
            return self._train(gather, labels, epochs=epochs, rng=rng, batch=batch, lr=lr,
                               weight_decay=weight_decay, label_smoothing=label_smoothing, progress=progress)

    def _train(self, gather, labels: np.ndarray, *, epochs: int, rng: np.random.Generator, batch: int,
               lr: float, weight_decay: float, label_smoothing: float, progress) -> float:
        params = [p for pair in zip(self.weights, self.biases) for p in pair]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        n = len(labels)
        C = self.n_outputs
        steps = 0
        total_steps = epochs * max(1, n // batch)
        loss_sum, count = 0.0, 0
        for epoch in range(epochs):
            order = rng.permutation(n)
            loss_sum, count = 0.0, 0
            for start in range(0, n - batch + 1 if n >= batch else 1, batch):
                idx = order[start:start + batch]
                x = gather(idx)
                y = labels[idx]
                # forward
                acts = [x]
                h = x
                for w, b in zip(self.weights[:-1], self.biases[:-1]):
                    h = np.maximum(h @ w + b, 0.0)
                    acts.append(h)
                z = h @ self.weights[-1] + self.biases[-1]
                z -= z.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                rows = np.arange(len(y))
                loss_sum += float(-np.log(p[rows, y] + 1e-12).sum())
                count += len(y)
                # backward (softmax + smoothed cross-entropy)
                grad = p
                grad -= label_smoothing / C
                grad[rows, y] -= 1.0 - label_smoothing
                grad /= len(y)
                grads_w, grads_b = [], []
                for layer in range(len(self.weights) - 1, -1, -1):
                    grads_w.append(acts[layer].T @ grad)
                    grads_b.append(grad.sum(axis=0))
                    if layer:
                        grad = grad @ self.weights[layer].T
                        grad *= acts[layer] > 0
                grads = [g for pair in zip(reversed(grads_w), reversed(grads_b)) for g in pair]
                steps += 1
                rate = lr * min(1.0, 2.0 * (1.0 - steps / (total_steps + 1)) + 0.05)  # linear decay at the end
                c1, c2 = 1 - beta1 ** steps, 1 - beta2 ** steps
                for i, (param, g) in enumerate(zip(params, grads)):
                    if weight_decay and param.ndim == 2:
                        g = g + weight_decay * param
                    m[i] *= beta1
                    m[i] += (1 - beta1) * g
                    v[i] *= beta2
                    v[i] += (1 - beta2) * g * g
                    param -= (rate / c1) * m[i] / (np.sqrt(v[i] / c2) + eps)
            if progress is not None:
                progress(epoch + 1, loss_sum / max(count, 1))
        return loss_sum / max(1, count)

    def to_arrays(self, prefix: str = "mlp_") -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{prefix}w{i}"] = w
            out[f"{prefix}b{i}"] = b
        return out

    @staticmethod
    def from_arrays(arrays, prefix: str = "mlp_") -> "MLP":
        weights, biases = [], []
        i = 0
        while f"{prefix}w{i}" in arrays:
            weights.append(np.asarray(arrays[f"{prefix}w{i}"]))
            biases.append(np.asarray(arrays[f"{prefix}b{i}"]))
            i += 1
        if not weights:
            raise ValueError("no MLP weights in the model file")
        return MLP(weights, biases)
