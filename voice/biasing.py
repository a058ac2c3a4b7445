"""The shop's names as a bonus during Whisper's greedy decoding (shallow fusion with a token trie),
checked afterwards by Whisper itself.

Whisper hears "Kinetix" as "context": the acoustic evidence for the brand is there, but English
words win. Each brand and product type is tokenised (with a leading space, as written mid-sentence,
in its own, lower and title case) into a trie. While the bias is ``active``, the first tokens of
those names get ``start_bonus`` added to their logits at every step, and a token that continues a
name already begun gets ``continue_bonus``.

A bonus alone also writes names into speech that has none ("eight" -> "A.", "two" -> "a little").
So the biased transcript is only a proposal: ``voice.asr.Recognizer`` keeps it when the unbiased
model finds it at most ``max_cost`` nats less likely than its own transcript. Bonuses and cost
were chosen on the tuning parts only (benchmarks/results/asr_biasing.md).

Most utterances would decode the same with the bonus. So during the plain decode the bonus is only
watched: ``flip_at`` notes the first step where it would have changed the greedy choice. With no
such step the biased decode is skipped; with one, it resumes from the tokens before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

END = -1  # marks a complete name in the trie
LONGEST_NAME_TOKENS = 8


class CatalogueBias:
    def __init__(
        self,
        encode: Callable[[str], list[int]],
        terms: Iterable[str],
        start_bonus: float = 1.0,
        continue_bonus: float = 2.0,
        max_cost: float = 1.0,
    ) -> None:
        self.start_bonus = start_bonus
        self.continue_bonus = continue_bonus
        self.max_cost = max_cost  # nats of unbiased log-probability a biased transcript may lose
        self.active = False  # the bonus applies only to decodes run while this is set
        self.flip_at: int | None = None  # first step of the last plain decode the bonus would change
        self.trie: dict[int, dict] = {}
        for term in terms:
            for variant in {term, term.lower(), term.title()}:
                node = self.trie
                for token in encode(" " + variant)[:LONGEST_NAME_TOKENS]:
                    node = node.setdefault(token, {})
                node[END] = {}

    def continuations(self, generated: list[int]) -> set[int]:
        """Tokens that would continue a name begun at the end of ``generated``."""
        out: set[int] = set()
        for k in range(1, min(LONGEST_NAME_TOKENS, len(generated)) + 1):
            node: dict[int, dict] | None = self.trie
            for token in generated[-k:]:
                node = node.get(token) if node is not None else None
            out.update(token for token in node or () if token != END)
        return out

    def bonuses(self, generated: list[int]) -> dict[int, float]:
        """Token id → bonus for the next step, given the tokens generated so far."""
        out = {token: self.start_bonus for token in self.trie}
        for token in self.continuations(generated):
            out[token] = max(out.get(token, 0.0), self.continue_bonus)
        return out

    def attach(self, searcher: Any) -> None:
        """Wraps a SpeechBrain Whisper greedy searcher's ``forward_step``: adds the bonuses while
        active, otherwise notes in ``flip_at`` where they would have changed the greedy choice.
        Tokens given to the searcher as ``prefix`` count as generated (a resumed decode)."""
        import torch

        step = searcher.forward_step
        starts: dict[tuple[int, float], torch.Tensor] = {}  # the start bonus over the vocabulary, made once

        def bonus_step(inp_tokens: Any, memory: Any, enc_states: Any, enc_lens: Any, attention_mask: Any = None) -> Any:
            logits, tokens, attn = step(inp_tokens, memory, enc_states, enc_lens, attention_mask)
            key = (logits.shape[-1], self.start_bonus)
            if key not in starts:
                starts[key] = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
                starts[key][list(self.trie)] = self.start_bonus
            biased = logits + starts[key]
            begin = searcher.sample_begin - len(searcher.prefix or ())
            for row in range(logits.shape[0]):
                ids = list(self.continuations(tokens[row, begin:].tolist()))
                if ids:  # a continuation gets the larger of the two bonuses, not both
                    biased[row, ids] += (self.continue_bonus - starts[key][ids]).clamp(min=0)
            if self.active:
                return biased, tokens, attn
            if self.flip_at is None and bool((biased.argmax(-1) != logits.argmax(-1)).any()):
                self.flip_at = tokens.shape[1] - begin
            return logits, tokens, attn

        searcher.forward_step = bonus_step
