"""Diagonal-covariance Gaussian mixtures per HMM class: the flat-start stage of training.

Scoring all frames against all components is three matrix products (x^2 @ P, x @ M, constants), then a
log-sum-exp over each class's components. Estimation is Viterbi-style: the frames aligned to a class
update that class's mixture by one EM step; `split` doubles the components of every class (means
nudged by +-0.2 standard deviations along each dimension) until the target mixture size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DiagGMM"]

_VAR_FLOOR = 0.01
_LOG2PI = float(np.log(2 * np.pi))


@dataclass
class DiagGMM:
    means: np.ndarray      # [C, M, D]
    variances: np.ndarray  # [C, M, D]
    log_weights: np.ndarray  # [C, M]; -inf for unused components

    @property
    def n_classes(self) -> int:
        return self.means.shape[0]

    @staticmethod
    def initial(n_classes: int, dim: int) -> "DiagGMM":
        return DiagGMM(np.zeros((n_classes, 1, dim), np.float32), np.ones((n_classes, 1, dim), np.float32),
                       np.zeros((n_classes, 1), np.float32))

    def component_loglik(self, x: np.ndarray) -> np.ndarray:
        """[T, C, M] log N(x | component), weights included."""
        C, M, D = self.means.shape
        inv = (1.0 / self.variances).reshape(C * M, D)
        mu_inv = (self.means / self.variances).reshape(C * M, D)
        const = (-0.5 * (D * _LOG2PI + np.log(self.variances).sum(-1)
                         + (self.means ** 2 / self.variances).sum(-1)) + self.log_weights).reshape(C * M)
        x = np.asarray(x, np.float32)
        ll = -0.5 * ((x * x) @ inv.T) + x @ mu_inv.T + const
        return ll.reshape(len(x), C, M)

    def loglik(self, x: np.ndarray) -> np.ndarray:
        """[T, C] log-likelihood of each frame under each class's mixture."""
        comp = self.component_loglik(x)
        top = comp.max(axis=2, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        return (top[..., 0] + np.log(np.exp(comp - top).sum(axis=2))).astype(np.float32)

    def update(self, x: np.ndarray, labels: np.ndarray) -> None:
        """One Viterbi-EM step: each class re-estimated from its frames; classes without frames keep theirs."""
        C, M, D = self.means.shape
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(C + 1))
        global_var = np.maximum(x.var(axis=0), 1e-3)
        floor = _VAR_FLOOR * global_var
        for c in range(C):
            frames = x[order[bounds[c]:bounds[c + 1]]]
            if len(frames) < 2 * D // 10 + 2:
                continue
            if M == 1:
                resp = np.ones((len(frames), 1), np.float32)
            else:
                sub = DiagGMM(self.means[c:c + 1], self.variances[c:c + 1], self.log_weights[c:c + 1])
                comp = sub.component_loglik(frames)[:, 0, :]
                comp -= comp.max(axis=1, keepdims=True)
                resp = np.exp(comp)
                resp /= resp.sum(axis=1, keepdims=True)
            occ = resp.sum(axis=0)
            used = occ > 1.0
            mean = (resp.T @ frames) / np.maximum(occ, 1e-6)[:, None]
            var = (resp.T @ (frames * frames)) / np.maximum(occ, 1e-6)[:, None] - mean ** 2
            var = np.maximum(var, floor)
            self.means[c, used] = mean[used]
            self.variances[c, used] = var[used]
            weights = occ / occ.sum()
            self.log_weights[c] = np.where(used, np.log(np.maximum(weights, 1e-10)), -np.inf)

    def split(self, target: int) -> "DiagGMM":
        """Double the components (up to `target`): each becomes two with means +-0.2 sigma apart."""
        C, M, D = self.means.shape
        if M >= target:
            return self
        sd = np.sqrt(self.variances)
        means = np.concatenate([self.means - 0.2 * sd, self.means + 0.2 * sd], axis=1)
        variances = np.concatenate([self.variances, self.variances], axis=1)
        log_weights = np.concatenate([self.log_weights, self.log_weights], axis=1) - np.log(2.0)
        return DiagGMM(means.astype(np.float32), variances.astype(np.float32), log_weights.astype(np.float32))

    def to_arrays(self, prefix: str = "gmm_") -> dict[str, np.ndarray]:
        return {f"{prefix}means": self.means, f"{prefix}variances": self.variances,
                f"{prefix}log_weights": self.log_weights}
