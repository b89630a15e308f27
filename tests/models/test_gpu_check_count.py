"""bench/gpu_check.py's generation speed counts the token ids the model generated, not a re-tokenisation of
the text (the bench's random model has 512 / 32,000 words, its tokenizer 400: most ids decode to nothing)."""

from __future__ import annotations


def test_generation_counts_the_generated_ids(tmp_path):
    import torch

    from bench import gpu_check
    from harness.contract import generate_until
    from harness.models import load, resolve

    s = dict(gpu_check.DRY, gen_prompts=4, gen_tokens=12)  # a 512-word random Llama, the tests' 400-word tokenizer
    path, _ = gpu_check.build_model(tmp_path / "llama", s, "cpu")
    lm = load(resolve(str(path)), device="cpu", batch_size=4)
    figures = gpu_check.generation(lm, s)

    # the same prompts, generated one by one by transformers' greedy generate: its new ids before any EOS
    tok, model, expected, spelled = lm.tokenizer, lm.model, 0, 0
    for i in range(s["gen_prompts"]):
        prompt = torch.tensor([tok.encode(f"Patient {i} presents with")])
        new = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=s["gen_tokens"],
                             do_sample=False, pad_token_id=tok.eos_token_id)[0, prompt.shape[1]:].tolist()
        ids = new[:new.index(tok.eos_token_id)] if tok.eos_token_id in new else new
        expected += len(ids)
        spelled += len(tok(tok.decode(ids, skip_special_tokens=True), add_special_tokens=False)["input_ids"])
    assert figures["tokens"] == expected > 0
    assert spelled != expected, (spelled, expected)  # what re-tokenising the text reported instead
    req = [generate_until(0, "Paris is", until=(), max_new_tokens=5)]
    assert gpu_check.generated_ids(lm, lambda: lm.generate_until(req)) <= 5
