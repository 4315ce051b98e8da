"""Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune").

Per matrix, the target sparsity follows the cubic schedule
    s_t = s_f + (s_i - s_f) * (1 - t / T)^3,  0 <= t <= T (s_i = 0),
masks are recomputed from the current weight magnitudes every `every` steps until T, then kept
fixed (s_f) for the rest of training. Masked weights are zeroed after every optimizer step, so
a pruned weight stays zero until the next recomputation (and, being zero, stays pruned).

Patterns (on the stored [out][in] weight):
- "unstructured": the round(s * n) smallest |w| are zeroed;
- "1x4": blocks of 1 output row x 4 consecutive input columns, ranked by their L2 norm; the
  round(s * blocks) smallest blocks are zeroed.
"""
import torch


def block_scores(w, pattern):
    """Scores of the pruning units of w [out, in]: |w| or the L2 norm of 1x4 blocks."""
    if pattern == "unstructured":
        return w.abs()
    if pattern == "1x4":
        rows, cols = w.shape
        assert cols % 4 == 0, f"1x4 blocks need in_features % 4 == 0, got {cols}"
        return w.reshape(rows, cols // 4, 4).norm(dim=-1)
    raise ValueError(f"unknown pattern {pattern}")


def magnitude_mask(w, sparsity, pattern):
    """A {0,1} mask of w's shape with exactly round(sparsity * units) units zeroed (the
    smallest scores; ties broken by position)."""
    scores = block_scores(w.detach(), pattern).reshape(-1)
    k = int(round(sparsity * scores.numel()))
    keep = torch.ones_like(scores)
    if k > 0:
        idx = torch.argsort(scores, stable=True)[:k]
        keep[idx] = 0.0
    keep = keep.reshape(block_scores(w.detach(), pattern).shape)
    if pattern == "1x4":
        keep = keep.repeat_interleave(4, dim=1)
    return keep.reshape(w.shape).to(w.dtype)


def cubic_sparsity(step, final, end_step, initial=0.0):
    if step >= end_step:
        return final
    return final + (initial - final) * (1.0 - step / end_step) ** 3


class GradualPruner:
    def __init__(self, model, names, final_sparsity, pattern, end_step, every):
        params = dict(model.named_parameters())
        self.weights = {n: params[n] for n in names}
        self.final, self.pattern = final_sparsity, pattern
        self.end_step, self.every = max(1, end_step), max(1, every)
        self.masks = {}
        self.sparsity = 0.0

    def update(self, step):
        """Recomputes the masks at step 0, every `every` steps before end_step, and at end_step."""
        if step > self.end_step:
            return
        if step % self.every and step != self.end_step:
            return
        s = cubic_sparsity(step, self.final, self.end_step)
        if self.masks and s == self.sparsity:
            return
        self.sparsity = s
        for n, w in self.weights.items():
            self.masks[n] = magnitude_mask(w, s, self.pattern)
        self.apply()

    def apply(self):
        with torch.no_grad():
            for n, w in self.weights.items():
                if n in self.masks:
                    w.mul_(self.masks[n])

    def current_sparsity(self):
        return self.sparsity

    def check(self):
        """Overall fraction of zeros in the pruned matrices; asserts each is at the target."""
        zeros = total = 0
        for n, w in self.weights.items():
            z = int((w == 0).sum())
            want = int(round(self.final * w.numel() / (4 if self.pattern == "1x4" else 1)))
            want *= 4 if self.pattern == "1x4" else 1
            assert z >= want, f"{n}: {z} zeros, expected at least {want}"
            zeros += z
            total += w.numel()
        return zeros / total
