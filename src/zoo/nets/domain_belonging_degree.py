"""Domain-belonging degree (DBD) of a document from per-domain term statistics.

"A weighted capsule network ensemble for multi-domain sentiment analysis" (2023),
https://arxiv.org/abs/2306.17068, after Dragoni's domain-relevance weighting. The paper gives no
code; the additive form below is the inferred one of the zoo's references (section 2); the
log-space form aggregates the same TF and IDF statistics as multinomial naive Bayes does.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["DomainBelongingDegree", "AGGREGATIONS"]

AGGREGATIONS = ("log", "additive")


class DomainBelongingDegree(nn.Module):
    r"""Degree to which a document belongs to each training domain, from TF and IDF statistics.

    Both forms start from the training term counts :math:`n_i(c)` of term :math:`c` in domain
    :math:`i` (plus ``smoothing`` :math:`\alpha` for every term seen in training) and the paper's
    two statistics,

    .. math::
        \mathrm{freq}_i(c) = \frac{n_i(c)}{\sum_{c'} n_i(c')}, \qquad
        \mathrm{uniq}_i(c) = \frac{n_i(c)}{\sum_j n_j(c)},

    the term frequency within the domain and the share of the term's occurrences that fall in the
    domain (the inverse-domain-frequency part). A document :math:`d` has term counts
    :math:`\mathrm{tf}(c, d)`; terms never seen in training are ignored.

    **Log-space aggregation** (``aggregation="log"``, default, with ``prior``, ``idf`` and
    :math:`\alpha = 0.1`: chosen on validation domain accuracy over four corpora, see
    ``research/capsules.md``). The domain's smoothed term frequency is read as the probability of
    the term under the domain, and a document's terms are combined by summing log-probabilities,
    as multinomial naive Bayes does:

    .. math::
        s_i(d) = \underbrace{\log \pi_i}_{\text{prior}}
                 + \sum_{c \in d} \mathrm{tf}(c, d)\, w(c) \log \mathrm{freq}_i(c), \qquad
        \mathrm{DBD}_i(d) = \frac{\exp(p\, s_i(d))}{\sum_j \exp(p\, s_j(d))}

    with the domain-size prior :math:`\pi_i` (the domain's share of the training documents given
    to :meth:`fit`, else of the training tokens; ``prior=False`` drops the term, i.e. a uniform
    prior) and the term weight :math:`w(c)` (``idf=False``: 1). With ``idf`` (default) the weight is the
    inverse domain frequency of the term, graded by how its rate is spread over the domains:

    .. math::
        w(c) = \log D + \sum_i \bar u_i(c) \log \bar u_i(c), \qquad
        \bar u_i(c) = \frac{\mathrm{freq}_i(c)}{\sum_j \mathrm{freq}_j(c)},

    i.e. :math:`\log D` minus the entropy of the size-balanced ``uniq``; for a term used at the
    same rate in :math:`k` of the :math:`D` domains and absent from the rest it is exactly
    :math:`\log(D / k)`, the IDF over domains. Log-space needs :math:`\alpha > 0`. The predicted
    domain :math:`\arg\max_i s_i(d)` does not depend on :math:`p`; the mixing weights do: a
    naive-Bayes posterior over a long text is nearly one-hot, and :math:`p < 1` softens it
    (``capsule_blitzer`` mixes with :math:`p = 0.03`, chosen on validation polarity accuracy).

    **Additive aggregation** (``aggregation="additive"``, the paper's score):
    :math:`\mathrm{DBD}_i(c) = \mathrm{freq}_i(c)\,\mathrm{uniq}_i(c)`; with ``balance_domains``
    ``uniq`` is :math:`\bar u_i(c)` above instead of the raw-count share. With ``term_normalise``
    (default) each term's degrees are normalised across domains,
    :math:`\overline{\mathrm{DBD}}_i(c) = \mathrm{DBD}_i(c) / \sum_j \mathrm{DBD}_j(c)`, and

    .. math::
        \mathrm{DBD}_i(d) = \frac{g_i(d)^{p}}{\sum_j g_j(d)^{p}}, \qquad
        g_i(d) = \sum_{c \in d} \mathrm{tf}(c, d)\,\overline{\mathrm{DBD}}_i(c).

    A sum of degrees lets the many common subwords vote, and the raw-count ``uniq`` hands every
    common term to the largest domain (a term used at the same rate everywhere has
    :math:`\mathrm{uniq}_i = N_i / \sum_j N_j`); the log-space sum is decided by the terms whose
    rates differ between the domains. ``prior`` and ``idf`` apply to the log form only; a document
    with no known term gets uniform degrees (log form: the prior).

    Args:
        num_domains: number of domains :math:`D`.
        vocab_size: number of term ids :math:`V` (id 0, padding, is ignored).
        aggregation: ``log`` (default) or ``additive`` (the paper's score).
        prior: add the log domain-size prior :math:`\log \pi_i` (log form; default: ``True``).
        idf: weight each term by :math:`w(c)` (log form; default: ``True``).
        sharpness: :math:`p`, the scale of the log scores or the exponent of the additive scores
            before the final normalisation (default: ``1.0``).
        smoothing: pseudo-count :math:`\alpha` added to every :math:`n_i(c)` of a seen term
            (default: ``None``: 0.1 for the log form, 0 for the additive one).
        term_normalise: normalise each term's additive degrees across domains (default: ``True``).
        balance_domains: additive ``uniq`` over relative frequencies, not raw counts (default:
            ``False``, the reference form).

    Shapes:
        - :meth:`fit` input: counts ``(D, V)``, optional domain sizes ``(D,)``.
        - input: ``input_ids`` ``(B, L)``; output: degrees ``(B, D)``, rows summing to 1;
          :meth:`scores`: the unnormalised ``(B, D)`` scores (log form: :math:`s_i(d)`).
    """

    def __init__(
        self,
        *,
        num_domains: int,
        vocab_size: int,
        aggregation: str = "log",
        prior: bool = True,
        idf: bool = True,
        sharpness: float = 1.0,
        smoothing: Optional[float] = None,
        term_normalise: bool = True,
        balance_domains: bool = False,
    ) -> None:
        super().__init__()
        if num_domains < 1 or vocab_size < 1:
            raise ValueError(f"num_domains={num_domains}, vocab_size={vocab_size}: both must be >= 1")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"model.dbd.aggregation={aggregation!r}; expected one of {list(AGGREGATIONS)}")
        if sharpness is None or not sharpness > 0:
            raise ValueError(f"model.dbd.sharpness={sharpness}; expected a positive number")
        if smoothing is None:
            smoothing = 0.1 if aggregation == "log" else 0.0
        if smoothing < 0:
            raise ValueError(f"model.dbd.smoothing={smoothing}; expected >= 0")
        if aggregation == "log" and smoothing == 0:
            raise ValueError(
                "model.dbd.smoothing=0 with model.dbd.aggregation='log': a term unseen in one domain "
                "would have log-probability -inf there; expected smoothing > 0"
            )
        self.num_domains = num_domains
        self.vocab_size = vocab_size
        self.aggregation = aggregation
        self.prior = prior
        self.idf = idf
        self.sharpness = float(sharpness)
        self.smoothing = float(smoothing)
        self.term_normalise = term_normalise
        self.balance_domains = balance_domains
        # log form: w(c) log freq_i(c); additive form: the (normalised) term degrees. Row 0 stays 0.
        self.register_buffer("term_degree", torch.zeros(vocab_size, num_domains))
        self.register_buffer("log_prior", torch.zeros(num_domains))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.term_degree.zero_()
        self.log_prior.fill_(-math.log(self.num_domains))
        self.fitted.fill_(False)

    @torch.no_grad()
    def fit(self, counts: Tensor, domain_sizes: Optional[Tensor] = None) -> "DomainBelongingDegree":
        """Set the term statistics from training term counts ``(D, V)`` (column 0 ignored) and the
        prior from ``domain_sizes`` ``(D,)`` (documents per domain; ``None``: the token counts)."""
        if counts.shape != (self.num_domains, self.vocab_size):
            raise ValueError(
                f"term counts have shape {tuple(counts.shape)}; expected "
                f"({self.num_domains}, {self.vocab_size}) (domains, vocabulary)"
            )
        counts = counts.double().clone()
        counts[:, 0] = 0.0
        tokens = counts.sum(dim=1)
        seen = counts.sum(dim=0) > 0
        counts = counts + self.smoothing * seen.double()
        freq = counts / counts.sum(dim=1, keepdim=True).clamp_min(1e-300)  # (D, V)
        balanced_uniq = freq / freq.sum(dim=0, keepdim=True).clamp_min(1e-300)
        if self.aggregation == "log":
            weight = torch.ones_like(freq[0])
            if self.idf:
                plogp = torch.where(balanced_uniq > 0, balanced_uniq * balanced_uniq.clamp_min(1e-300).log(), 0.0)
                weight = math.log(self.num_domains) + plogp.sum(dim=0)
            degree = torch.where(seen, weight * freq.clamp_min(1e-300).log(), 0.0)
        else:
            uniq = balanced_uniq if self.balance_domains else counts / counts.sum(dim=0, keepdim=True).clamp_min(1e-300)
            degree = freq * uniq
            if self.term_normalise:
                degree = degree / degree.sum(dim=0, keepdim=True).clamp_min(1e-300)
        sizes = tokens if domain_sizes is None else domain_sizes.double().to(tokens.device)
        if sizes.shape != (self.num_domains,) or bool((sizes < 0).any()) or float(sizes.sum()) <= 0:
            raise ValueError(f"domain sizes {sizes.tolist()}: expected {self.num_domains} counts >= 0, not all 0")
        self.term_degree.copy_(degree.t().to(self.term_degree.dtype))
        self.log_prior.copy_((sizes / sizes.sum()).clamp_min(1e-300).log().to(self.log_prior.dtype))
        self.fitted.fill_(True)
        return self

    def scores(self, input_ids: Tensor) -> Tensor:
        """Unnormalised scores ``(B, D)``: :math:`s_i(d)` (log form, the prior included when
        ``prior``) or :math:`g_i(d)` (additive form), in float64."""
        summed = self.term_degree[input_ids].double().sum(dim=1)  # row 0 of term_degree is 0
        if self.aggregation == "log" and self.prior:
            summed = summed + self.log_prior.double()
        return summed

    def forward(self, input_ids: Tensor) -> Tensor:
        scores = self.scores(input_ids)
        if self.aggregation == "log":
            return torch.softmax(self.sharpness * scores, dim=1).to(self.term_degree.dtype)
        if self.sharpness != 1.0:
            scores = scores.pow(self.sharpness)
        total = scores.sum(dim=1, keepdim=True)
        uniform = torch.full_like(scores, 1.0 / self.num_domains)
        return torch.where(total > 0, scores / total.clamp_min(1e-300), uniform).to(self.term_degree.dtype)

    def extra_repr(self) -> str:
        if self.aggregation == "log":
            options = f"prior={self.prior}, idf={self.idf}"
        else:
            options = f"term_normalise={self.term_normalise}, balance_domains={self.balance_domains}"
        return (f"num_domains={self.num_domains}, vocab_size={self.vocab_size}, "
                f"aggregation={self.aggregation!r}, {options}, sharpness={self.sharpness}, "
                f"smoothing={self.smoothing}")
