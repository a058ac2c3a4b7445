"""The shop's names as a bonus during Whisper's greedy decoding (shallow fusion with a token trie).

Whisper hears "Kinetix" as "context": the acoustic evidence for the brand is there, but English
words win. Each brand and product type is tokenised (with a leading space, as written mid-sentence,
in its own, lower and title case) into a trie. At every decoding step the first tokens of those
names get ``start_bonus`` added to their logits, and a token that continues a name already begun
gets ``continue_bonus``. The bonuses were chosen on the tuning part of the speech set
(benchmarks/results/asr_biasing.md); correction after decoding still runs. It is off unless
SHOPKEEPER_ASR_BIAS=1: on real recordings it also writes names where none were said.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

END = -1  # marks a complete name in the trie
LONGEST_NAME_TOKENS = 8


class CatalogueBias:
    def __init__(self, encode: Callable[[str], list[int]], terms: Iterable[str],
                 start_bonus: float = 2.0, continue_bonus: float = 3.0) -> None:
        self.start_bonus = start_bonus
        self.continue_bonus = continue_bonus
        self.trie: dict[int, dict] = {}
        for term in terms:
            for variant in {term, term.lower(), term.title()}:
                node = self.trie
                for token in encode(" " + variant)[:LONGEST_NAME_TOKENS]:
                    node = node.setdefault(token, {})
                node[END] = {}

    def bonuses(self, generated: list[int]) -> dict[int, float]:
        """Token id → bonus for the next step, given the tokens generated so far."""
        out = {token: self.start_bonus for token in self.trie}
        for k in range(1, min(LONGEST_NAME_TOKENS, len(generated)) + 1):
            node: dict[int, dict] | None = self.trie
            for token in generated[-k:]:
                node = node.get(token) if node is not None else None
            for token in node or ():
                if token != END:
                    out[token] = max(out.get(token, 0.0), self.continue_bonus)
        return out

    def attach(self, searcher: Any) -> None:
        """Wraps a SpeechBrain Whisper greedy searcher's ``forward_step`` to add the bonuses."""
        import torch

        step = searcher.forward_step

        def biased_step(inp_tokens: Any, memory: Any, enc_states: Any, enc_lens: Any,
                        attention_mask: Any = None) -> Any:
            logits, tokens, attn = step(inp_tokens, memory, enc_states, enc_lens, attention_mask)
            for row in range(logits.shape[0]):
                bonus = self.bonuses(tokens[row, searcher.sample_begin:].tolist())
                ids = torch.tensor(list(bonus), device=logits.device)
                logits[row, ids] += torch.tensor(list(bonus.values()), dtype=logits.dtype, device=logits.device)
            return logits, tokens, attn

        searcher.forward_step = biased_step
