"""The lineage tree of ``medtune variants``: each variant under its parent, with method, key
hyper-parameters, tokens seen and creation time (rich markup; terminal rendering only)."""

from __future__ import annotations


def variant_tree(variants: list[dict]):
    """A rich Tree of the lineage: name, method, key hyper-parameters, tokens seen, created."""
    from rich.tree import Tree

    children: dict[str | None, list[dict]] = {}
    names = {v["name"] for v in variants}
    for v in variants:
        children.setdefault(v["parent"] if v["parent"] in names else None, []).append(v)
    root = Tree("[bold]variants[/]")

    def add(node, parent):
        for v in children.get(parent, []):
            add(node.add(describe(v)), v["name"])

    add(root, None)
    return root


def describe(v: dict) -> str:
    lin = v.get("lineage") or {}
    cfg = lin.get("config") or {}
    train, lora = cfg.get("train") or {}, cfg.get("lora")
    bits = []
    if train:
        bits.append(f"lr {train.get('lr')}")
        bits.append(f"seq {train.get('seq_length')}")
        if lin.get("tokens_seen") is not None:
            bits.append(f"{lin['tokens_seen']:,} tokens")
    if lora:
        bits.append(f"r {lora.get('r')}/α {lora.get('alpha')}")
    if lin.get("final_eval_loss") is not None:
        bits.append(f"eval loss {lin['final_eval_loss']:.3f}")
    created = v.get("created_at")
    created = created.strftime("%Y-%m-%d %H:%M") if hasattr(created, "strftime") else str(created or "")
    detail = " · ".join(bits)
    return f"[bold]{v['name']}[/] [cyan]{v.get('method') or 'base'}[/] {detail} [dim]{created}[/]"
