"""Hidden cases of the corpus: inputs the generator never sees, and reference functions.

Each reference is written in plain Python from the spec's natural-language constraints, not
from its rules: counters, dictionaries, ``datetime``, regular expressions. A spec's plugin is
right on a hidden case when its output is ``same`` as the reference's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

Json = dict[str, Any]
Reference = Callable[[Json], Json]


# -- WBS ---------------------------------------------------------------------------------------


def wbs_numbering_check(inp: Json) -> Json:
    codes = [t["code"] for t in inp["tasks"]]
    tasks = []
    for t in inp["tasks"]:
        code = t["code"]
        parent = code.rsplit(".", 1)[0] if "." in code else None
        problems = []
        if not all(re.fullmatch(r"[1-9][0-9]*", part) for part in code.split(".")):
            problems.append("malformed")
        if parent is not None and parent not in codes:
            problems.append("parent missing")
        if codes.count(code) > 1:
            problems.append("duplicate")
        depth = code.count(".") + 1
        tasks.append(
            {
                "code": code,
                "name": t["name"],
                "depth": depth,
                "parent": parent,
                "problems": problems,
            }
        )
    invalid = sorted({t["code"] for t in tasks if t["problems"]})
    return {"tasks": tasks, "invalid_codes": invalid, "valid": not invalid}


def wbs_outline_numbers(inp: Json) -> Json:
    counters = [0] * 5
    items = []
    for it in inp["items"]:
        level = it["level"]
        counters[level] += 1
        for deeper in range(level + 1, 5):
            counters[deeper] = 0
        number = ".".join(str(c) for c in counters[1 : level + 1])
        items.append({"title": it["title"], "level": level, "number": number})
    lines = ["  " * (i["level"] - 1) + f"- {i['number']} {i['title']}" for i in items]
    return {"items": items, "markdown": "\n".join(lines)}


def wbs_cost_rollup(inp: Json) -> Json:
    def key(code: str) -> tuple[int, ...]:
        return tuple(int(p) for p in code.split("."))

    ordered = sorted(inp["nodes"], key=lambda n: key(n["code"]))
    codes = {n["code"] for n in ordered}
    nodes = []
    for n in ordered:
        total = 0
        for m in ordered:
            below = key(m["code"])[: len(key(n["code"]))] == key(n["code"])
            if below:
                total += m["cost"]
        nodes.append(
            {
                "code": n["code"],
                "name": n["name"],
                "own_cost": n["cost"],
                "total_cost": round(total, 2),
                "level": len(key(n["code"])),
            }
        )
    orphans = [
        n["code"] for n in nodes if n["level"] > 1 and n["code"].rsplit(".", 1)[0] not in codes
    ]
    total = 0
    for n in ordered:
        total += n["cost"]
    markdown = "\n".join(
        "  " * (n["level"] - 1) + f"- {n['code']} {n['name']}: {n['total_cost']:,.2f}"
        for n in nodes
    )
    return {
        "nodes": nodes,
        "orphans": orphans,
        "grand_total": round(total, 2),
        "markdown": markdown,
    }


# -- budget ------------------------------------------------------------------------------------


def budget_category_totals(inp: Json) -> Json:
    totals: dict[str, Any] = {}
    counts: dict[str, int] = {}
    grand: Any = 0
    for line in inp["lines"]:
        c = line["category"]
        totals[c] = totals.get(c, 0) + line["amount"]
        counts[c] = counts.get(c, 0) + 1
        grand += line["amount"]
    grand = round(grand, 2)
    categories = []
    for c in sorted(totals, key=lambda c: (-round(totals[c], 2), c)):
        total = round(totals[c], 2)
        share = round(100 * total / grand, 1) if grand > 0 else 0.0
        categories.append({"category": c, "lines": counts[c], "total": total, "share_pct": share})
    rows = ["| Category | Lines | Total | Share |", "|---|---:|---:|---:|"]
    for g in categories:
        rows.append(
            f"| {g['category']} | {g['lines']} | {g['total']:,.2f} | {g['share_pct']:.1f}% |"
        )
    rows.append(f"| **Total** | {len(inp['lines'])} | {grand:,.2f} | 100.0% |")
    return {"grand_total": grand, "categories": categories, "markdown": "\n".join(rows)}


def budget_percent_shares(inp: Json) -> Json:
    amounts = [p["amount"] for p in inp["parts"]]
    total = sum(amounts)
    if total > 0:
        quotas = [a * 1000 / total for a in amounts]
        floors = [int(q) for q in quotas]
        leftover = 1000 - sum(floors)
        by_loss = sorted(range(len(amounts)), key=lambda i: (-(quotas[i] - floors[i]), i))
        bonus = by_loss[:leftover]
    else:
        floors, leftover, bonus = [0] * len(amounts), 0, []
    shares = [
        {"name": p["name"], "amount": p["amount"], "share_pct": (floors[i] + (i in bonus)) / 10}
        for i, p in enumerate(inp["parts"])
    ]
    return {
        "total": total,
        "tenths": floors,
        "leftover": leftover,
        "bonus": bonus,
        "shares": shares,
    }


def budget_variance_report(inp: Json) -> Json:
    tol = inp["tolerance_pct"]
    lines = []
    for line in inp["lines"]:
        planned, actual = line["planned"], line["actual"]
        pct = round(100 * (actual - planned) / planned, 1) if planned else None
        if pct is None:
            status = "no plan"
        elif pct > tol:
            status = "over"
        elif pct < -tol:
            status = "under"
        else:
            status = "on track"
        lines.append(
            {
                "line": line["line"],
                "planned": planned,
                "actual": actual,
                "variance": round(actual - planned, 2),
                "variance_pct": pct,
                "status": status,
            }
        )
    rows = ["| Line | Planned | Actual | Variance | % |", "|---|---:|---:|---:|---:|"]
    for r in lines:
        pct_text = "n/a" if r["variance_pct"] is None else f"{r['variance_pct']:+.1f}%"
        rows.append(
            f"| {r['line']} | {r['planned']:,.2f} | {r['actual']:,.2f} | {r['variance']:+,.2f} | "
            f"{pct_text} |"
        )
    return {
        "lines": lines,
        "planned_total": round(sum(r["planned"] for r in inp["lines"]), 2),
        "actual_total": round(sum(r["actual"] for r in inp["lines"]), 2),
        "over_budget": [r["line"] for r in lines if r["status"] == "over"],
        "markdown": "\n".join(rows),
    }


def budget_cumulative_cashflow(inp: Json) -> Json:
    running: Any = 0
    cumulative, rows = [], []
    for m in inp["months"]:
        running += m["spend"]
        c = round(running, 2)
        cumulative.append(c)
        rows.append(
            {
                "label": m["label"],
                "spend": m["spend"],
                "cumulative": c,
                "remaining": round(inp["budget"] - c, 2),
            }
        )
    peak = None
    for m in inp["months"]:
        if peak is None or m["spend"] > peak["spend"]:
            peak = m
    over = [r["label"] for r in rows if r["cumulative"] > inp["budget"]]
    return {
        "cumulative": cumulative,
        "rows": rows,
        "peak_month": peak["label"] if peak else None,
        "first_over_budget": over[0] if over else None,
        "total_spend": cumulative[-1] if cumulative else 0,
    }


def currency_convert_lines(inp: Json) -> Json:
    lines, unconverted = [], []
    for line in inp["lines"]:
        cur = line["currency"]
        if cur == inp["base"]:
            rate = 1
        elif cur in inp["rates"]:
            rate = inp["rates"][cur]
        else:
            unconverted.append(line["id"])
            continue
        lines.append({**line, "rate": rate, "amount_base": round(line["amount"] * rate, 2)})
    sums: dict[str, Any] = {}
    for line in inp["lines"]:
        sums[line["currency"]] = sums.get(line["currency"], 0) + line["amount"]
    return {
        "lines": lines,
        "unconverted": unconverted,
        "total_base": round(sum(line["amount_base"] for line in lines), 2),
        "by_currency": {c: round(v, 2) for c, v in sorted(sums.items())},
    }


def ranking_top_n_costs(inp: Json) -> Json:
    ranked = sorted(inp["items"], key=lambda r: (-r["cost"], r["name"]))
    n = inp["n"]
    top = [{"rank": i + 1, "name": r["name"], "cost": r["cost"]} for i, r in enumerate(ranked[:n])]
    everything = sum(r["cost"] for r in inp["items"])
    share = round(100 * sum(r["cost"] for r in top) / everything, 1) if everything > 0 else 0.0
    return {
        "top": top,
        "others_count": len(ranked[n:]),
        "others_total": round(sum(r["cost"] for r in ranked[n:]), 2),
        "top_share_pct": share,
        "markdown": "\n".join(f"{r['rank']}. {r['name']}: {r['cost']:,.2f}" for r in top),
    }


# -- schedule ----------------------------------------------------------------------------------


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def schedule_milestone_check(inp: Json) -> Json:
    milestones, out_of_order = [], []
    latest: str | None = None
    for m in inp["milestones"]:
        valid = _real_date(m["date"])
        in_window = valid and inp["start"] <= m["date"] <= inp["end"]
        milestones.append({**m, "valid": valid, "in_window": in_window})
        if valid:
            if latest is not None and m["date"] < latest:
                out_of_order.append(m["name"])
            latest = m["date"] if latest is None else max(latest, m["date"])
    return {
        "milestones": milestones,
        "invalid": [m["name"] for m in milestones if not m["valid"]],
        "out_of_order": out_of_order,
        "ok": all(m["in_window"] for m in milestones) and not out_of_order,
    }


def schedule_milestone_gaps(inp: Json) -> Json:
    milestones = []
    for m in inp["milestones"]:
        d = date.fromisoformat(m["date"])
        milestones.append(
            {
                **m,
                "year": d.year,
                "month": d.month,
                "day": d.day,
                "day_number": d.toordinal() + 1721425,  # the Julian day number
            }
        )
    gaps = [
        {"from": a["name"], "to": b["name"], "days": b["day_number"] - a["day_number"]}
        for a, b in pairwise(milestones)
    ]
    longest = None
    for g in gaps:
        if longest is None or g["days"] > longest["days"]:
            longest = g
    span = milestones[-1]["day_number"] - milestones[0]["day_number"] if milestones else 0
    return {
        "milestones": milestones,
        "gaps": gaps,
        "span_days": span,
        "longest_gap": longest,
        "backwards": [g["to"] for g in gaps if g["days"] < 0],
    }


def schedule_critical_path_small(inp: Json) -> Json:
    seen: list[str] = []
    tasks, order_errors = [], []
    finish: dict[str, int] = {}
    for t in inp["tasks"]:
        deps = [d for d in t["depends_on"] if d in seen]
        if len(deps) < len(t["depends_on"]):
            order_errors.append(t["id"])
        start = max((finish[d] for d in deps), default=0)
        end = start + t["duration"]
        finish[t["id"]] = max(finish.get(t["id"], 0), end)
        seen.append(t["id"])
        tasks.append(
            {
                "id": t["id"],
                "duration": t["duration"],
                "depends_on": deps,
                "finish": end,
                "start": start,
            }
        )
    project = max((t["finish"] for t in tasks), default=0)
    latest: dict[int, int] = {}
    for i in range(len(tasks) - 1, -1, -1):
        successors = [
            j for j in range(i + 1, len(tasks)) if tasks[i]["id"] in tasks[j]["depends_on"]
        ]
        latest[i] = min((latest[j] - tasks[j]["duration"] for j in successors), default=project)
    for i, t in enumerate(tasks):
        t["latest_finish"] = latest[i]
        t["slack"] = latest[i] - t["finish"]
    backward = [
        {
            "id": t["id"],
            "duration": t["duration"],
            "depends_on": t["depends_on"],
            "latest_finish": latest[i],
        }
        for i, t in reversed(list(enumerate(tasks)))
    ]
    return {
        "tasks": tasks,
        "order_errors": order_errors,
        "duration": project,
        "backward_pass": backward,
        "critical_path": [t["id"] for t in tasks if t["slack"] == 0],
    }


def tasks_dedupe(inp: Json) -> Json:
    first: dict[str, Json] = {}
    counts: dict[str, int] = {}
    conflicts: set[str] = set()
    for t in inp["tasks"]:
        counts[t["id"]] = counts.get(t["id"], 0) + 1
        if t["id"] not in first:
            first[t["id"]] = t
        elif (t["title"], t["days"]) != (first[t["id"]]["title"], first[t["id"]]["days"]):
            conflicts.add(t["id"])
    kept = list(first.values())
    return {
        "tasks": kept,
        "duplicate_ids": [t["id"] for t in kept if counts[t["id"]] > 1],
        "conflicts": [t["id"] for t in kept if t["id"] in conflicts],
        "total_days": sum(t["days"] for t in kept),
    }


def tasks_group_by_owner(inp: Json) -> Json:
    groups: dict[str, Json] = {}
    for t in inp["tasks"]:
        owner = t["owner"].strip() or "unassigned"
        group = groups.setdefault(owner, {"tasks": [], "total_days": 0})
        group["tasks"].append(t["id"])
        group["total_days"] += t["days"]
    owners = sorted(groups)
    busiest = None
    for o in owners:
        if busiest is None or groups[o]["total_days"] > groups[busiest]["total_days"]:
            busiest = o
    return {
        "by_owner": {o: groups[o] for o in owners},
        "owners": owners,
        "busiest": busiest,
        "unassigned_count": len(groups.get("unassigned", {"tasks": []})["tasks"]),
    }


def checklist_progress(inp: Json) -> Json:
    items = []
    for line in inp["markdown"].splitlines():
        match = re.fullmatch(r"[-*] \[([ xX])\] (.*)", line.strip())
        if match:
            items.append({"done": match[1] != " ", "text": match[2].strip()})
    done = sum(1 for i in items if i["done"])
    percent = round(100 * done / len(items)) if items else 100
    steps = percent // 10
    return {
        "items": items,
        "total": len(items),
        "done": done,
        "percent": percent,
        "open_items": [i["text"] for i in items if not i["done"]],
        "bar": "[" + "#" * steps + "-" * (10 - steps) + "]",
    }


def resources_allocation_check(inp: Json) -> Json:
    totals: dict[str, int] = {}
    tasks: dict[str, set[str]] = {}
    for a in inp["assignments"]:
        totals[a["person"]] = totals.get(a["person"], 0) + a["percent"]
        tasks.setdefault(a["person"], set()).add(a["task"])
    cap = inp["capacity_pct"]
    people = [
        {
            "person": p,
            "total_pct": totals[p],
            "tasks": sorted(tasks[p]),
            "over_by": max(totals[p] - cap, 0),
        }
        for p in sorted(totals)
    ]
    used = sum(totals.values())
    utilisation = round(100 * used / (len(people) * cap), 1) if people else 0.0
    return {
        "people": people,
        "over_allocated": [p["person"] for p in people if p["over_by"] > 0],
        "utilisation_pct": utilisation,
    }


# -- risks and stakeholders --------------------------------------------------------------------


def risk_heat_map(inp: Json) -> Json:
    matrix = [[0] * 5 for _ in range(5)]
    hottest = None
    best = 0
    for r in inp["risks"]:
        matrix[5 - r["impact"]][r["likelihood"] - 1] += 1
        score = r["likelihood"] * r["impact"]
        if hottest is None or score > best:
            hottest, best = r["id"], score
    lines = ["| Impact / Likelihood | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|"]
    for n, row in enumerate(matrix):
        cells = " | ".join(str(c) if c else "." for c in row)
        lines.append(f"| {5 - n} | {cells} |")
    return {
        "matrix": matrix,
        "hottest": hottest,
        "red_zone": sorted(r["id"] for r in inp["risks"] if r["likelihood"] * r["impact"] >= 15),
        "markdown": "\n".join(lines),
    }


def stakeholders_raci_check(inp: Json) -> Json:
    activities = []
    accountable_for: dict[str, int] = {}
    for a in inp["activities"]:
        acc = sorted(p for p, role in a["roles"].items() if role == "A")
        resp = sorted(p for p, role in a["roles"].items() if role == "R")
        problems = []
        if not acc:
            problems.append("no one accountable")
        if len(acc) > 1:
            problems.append("more than one accountable: " + ", ".join(acc))
        if not resp:
            problems.append("no one responsible")
        for p in acc:
            accountable_for[p] = accountable_for.get(p, 0) + 1
        activities.append(
            {"activity": a["name"], "accountable": acc, "responsible": resp, "problems": problems}
        )
    overloaded = sorted(p for p, n in accountable_for.items() if n > inp["max_accountable"])
    ok = all(not a["problems"] for a in activities) and not overloaded
    return {"activities": activities, "overloaded": overloaded, "ok": ok}


def stakeholders_normalize_names(inp: Json) -> Json:
    names: list[str] = []
    seen: set[str] = set()
    for raw in inp["names"]:
        name = " ".join(raw.split()).title()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return {
        "names": names,
        "removed": len(inp["names"]) - len(names),
        "initials": ["".join(word[0] for word in n.split(" ")) for n in names],
    }


QUADRANTS = ["manage closely", "keep satisfied", "keep informed", "monitor"]


def stakeholders_power_interest(inp: Json) -> Json:
    th = inp["threshold"]
    people = []
    for s in inp["stakeholders"]:
        high_power, high_interest = s["power"] >= th, s["interest"] >= th
        quadrant = QUADRANTS[
            (0 if high_interest else 1) if high_power else (2 if high_interest else 3)
        ]
        people.append({**s, "quadrant": quadrant})
    quadrants = {q: sorted(p["name"] for p in people if p["quadrant"] == q) for q in QUADRANTS}
    sections = []
    for q, names in quadrants.items():
        body = "\n".join(f"- {n}" for n in names) if names else "- (none)"
        sections.append(f"## {q[0].upper()}{q[1:]}\n{body}")
    return {"stakeholders": people, "quadrants": quadrants, "markdown": "\n\n".join(sections)}


# -- text and reports --------------------------------------------------------------------------


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def report_markdown_table(inp: Json) -> Json:
    cols = inp["columns"]
    header = "| " + " | ".join(_cell(c["header"]) for c in cols) + " |"
    marks = {"left": ":---", "right": "---:", "center": ":---:"}
    separator = "|" + "|".join(marks[c["align"]] for c in cols) + "|"
    lines = [
        "| " + " | ".join(_cell(r.get(c["key"], "")) for c in cols) + " |" for r in inp["rows"]
    ]
    return {
        "header": header,
        "separator": separator,
        "lines": lines,
        "markdown": "\n".join([header, separator, *lines]),
        "row_count": len(inp["rows"]),
    }


def docs_markdown_toc(inp: Json) -> Json:
    limit = min(inp["max_level"], 6)
    headings: list[dict[str, Any]] = []
    for line in inp["markdown"].splitlines():
        match = re.match(r"(#+)([ \t].*)$", line)
        if not match or len(match[1]) > limit or not match[2].strip():
            continue
        title = match[2].strip()
        slug = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_").replace(" ", "-")
        headings.append({"level": len(match[1]), "title": title, "slug": slug})
    anchors: list[str] = []
    used: dict[str, int] = {}
    for h in headings:
        n = used.get(h["slug"], 0)
        anchors.append(h["slug"] if n == 0 else f"{h['slug']}-{n}")
        used[h["slug"]] = n + 1
    top = min((h["level"] for h in headings), default=1)
    toc = "\n".join(
        "  " * (h["level"] - top) + f"- [{h['title']}](#{a})"
        for h, a in zip(headings, anchors, strict=True)
    )
    return {"headings": headings, "anchors": anchors, "toc": toc}


def text_slugify(inp: Json) -> Json:
    items: list[Json] = []
    slugs: list[str] = []
    seen: dict[str, int] = {}
    for title in inp["titles"]:
        base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        base = base[: inp["max_length"]].rstrip("-") or "item"
        items.append({"title": title, "base": base})
        seen[base] = seen.get(base, 0) + 1
        slugs.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return {"items": items, "slugs": slugs}


def text_acronyms(inp: Json) -> Json:
    found: list[str] = []
    for word in inp["text"].split():
        token = word.strip(".,;:!?()[]\"'")
        if token.endswith("s"):
            token = token[:-1]
        if 2 <= len(token) <= 6 and token.isalpha() and token.isupper():
            found.append(token)
    acronyms: dict[str, Json] = {}
    order: list[str] = []
    for t in found:
        if t not in acronyms:
            acronyms[t] = {"term": t, "count": 0, "defined": t in inp["glossary"]}
            order.append(t)
        acronyms[t]["count"] += 1
    listed = [acronyms[t] for t in order]
    md = "\n".join(
        f"- **{a['term']}**: "
        + (inp["glossary"][a["term"]] if a["defined"] else "(definition missing)")
        for a in listed
    )
    return {
        "occurrences": found,
        "acronyms": listed,
        "undefined": [a["term"] for a in listed if not a["defined"]],
        "glossary_md": md,
    }


def text_truncate_summaries(inp: Json) -> Json:
    limit = inp["max_chars"]
    items = []
    for it in inp["items"]:
        text = " ".join(it["text"].split())
        truncated = len(text) > limit
        summary = text
        if truncated:
            cut = text[: limit - 1]
            head = cut.rsplit(" ", 1)[0].rstrip(" ,.;:-") if " " in cut else ""
            summary = (head or cut) + "…"
        items.append({"id": it["id"], "text": text, "truncated": truncated, "summary": summary})
    return {"items": items, "truncated_ids": [i["id"] for i in items if i["truncated"]]}


def ids_sequence_check(inp: Json) -> Json:
    prefix, width = inp["prefix"], inp["width"]
    shape = re.compile(re.escape(prefix) + f"[0-9]{{{width}}}")
    good = [i for i in inp["ids"] if shape.fullmatch(i)]
    numbers = sorted({int(i[len(prefix) :]) for i in good})
    highest = max(numbers, default=0)

    def fmt(n: int) -> str:
        return f"{prefix}{n:0{width}d}"

    return {
        "numbers": numbers,
        "missing": [fmt(n) for n in range(1, highest + 1) if n not in numbers],
        "malformed": [i for i in inp["ids"] if not shape.fullmatch(i)],
        "duplicates": sorted({i for i in inp["ids"] if inp["ids"].count(i) > 1}),
        "next_id": fmt(highest + 1),
    }


_FACTORS: dict[str, tuple[str, float]] = {
    "in": ("m", 0.0254), "ft": ("m", 0.3048), "yd": ("m", 0.9144), "mi": ("m", 1609.344),
    "oz": ("kg", 0.028349523125), "lb": ("kg", 0.45359237), "ton_us": ("kg", 907.18474),
    "gal_us": ("l", 3.785411784), "qt_us": ("l", 0.946352946), "sqft": ("m2", 0.09290304),
    "acre": ("m2", 4046.8564224), "m": ("m", 1), "kg": ("kg", 1), "l": ("l", 1), "m2": ("m2", 1),
}  # fmt: skip


def units_to_metric(inp: Json) -> Json:
    d = inp["decimals"]
    items = []
    sums: dict[str, Any] = {}
    for it in inp["items"]:
        if it["unit"] == "degF":
            unit, value = "degC", round((it["value"] - 32) * 5 / 9, d)
        else:
            unit, factor = _FACTORS[it["unit"]]
            value = round(it["value"] * factor, d)
            sums[unit] = sums.get(unit, 0) + value
        items.append({**it, "si_unit": unit, "si_value": value})
    return {"items": items, "totals": {u: round(v, d) for u, v in sorted(sums.items())}}


# -- hidden inputs -----------------------------------------------------------------------------


def _tasks(*pairs: tuple[str, str]) -> Json:
    return {"tasks": [{"code": c, "name": n} for c, n in pairs]}


def _outline(*items: tuple[str, int]) -> Json:
    return {"items": [{"title": t, "level": lv} for t, lv in items]}


def _lines(*rows: tuple[str, str, float]) -> Json:
    return {"lines": [{"item": i, "category": c, "amount": a} for i, c, a in rows]}


def _network(*tasks: tuple[str, int, list[str]]) -> Json:
    return {"tasks": [{"id": i, "duration": d, "depends_on": deps} for i, d, deps in tasks]}


def _milestones(start: str, end: str, *ms: tuple[str, str]) -> Json:
    return {"start": start, "end": end, "milestones": [{"name": n, "date": d} for n, d in ms]}


def _dates(*ms: tuple[str, str]) -> Json:
    return {"milestones": [{"name": n, "date": d} for n, d in ms]}


HIDDEN: dict[str, tuple[Reference, list[Json]]] = {
    "wbs.numbering_check": (
        wbs_numbering_check,
        [
            _tasks(),
            _tasks(("1", "Project")),
            _tasks(
                ("1", "Site"),
                ("1.1", "Survey"),
                ("1.1.1", "Topography"),
                ("1.1.2", "Soil"),
                ("1.2", "Permits"),
                ("2", "Build"),
                ("2.1", "Foundations"),
                ("2.10", "Handover"),
            ),
            _tasks(("1", "A"), ("1.2.3", "deep orphan"), ("0", "zero"), ("1.", "trailing dot")),
            _tasks(("3", "C"), ("3.1", "C1"), ("3.1", "C1 again"), ("4.1", "D1"), ("10", "J")),
            _tasks((".1", "leading dot"), ("1..2", "double dot"), ("01", "padded"), ("1", "one")),
            _tasks(("1", "x"), ("1.1", "y"), ("1.1.1.1", "skips a level"), ("1.1.1", "z")),
        ],
    ),
    "wbs.outline_numbers": (
        wbs_outline_numbers,
        [
            _outline(),
            _outline(("Only", 1)),
            _outline(
                ("Site", 1),
                ("Survey", 2),
                ("Topo", 3),
                ("Soil", 3),
                ("Permits", 2),
                ("Build", 1),
                ("Civil", 2),
                ("Trenches", 3),
                ("Electrical", 2),
                ("Close", 1),
            ),
            _outline(("Deep start", 3), ("Deeper", 4), ("Back up", 1), ("Child", 2)),
            _outline(("A", 1), ("B", 4), ("C", 4), ("D", 2), ("E", 4), ("F", 3)),
            _outline(("Phase 1", 1), ("Phase 2", 1), ("Phase 3", 1), ("Task", 2), ("Task", 2)),
            _outline(*[(f"Item {i}", 1 + i % 4) for i in range(20)]),
        ],
    ),
    "wbs.cost_rollup": (
        wbs_cost_rollup,
        [
            {"nodes": []},
            {"nodes": [{"code": "1", "name": "Everything", "cost": 1000}]},
            {
                "nodes": [
                    {"code": "2", "name": "Build", "cost": 0},
                    {"code": "1", "name": "Design", "cost": 1500.25},
                    {"code": "2.1", "name": "Civil", "cost": 20000},
                    {"code": "2.2", "name": "Electrical", "cost": 35000.5},
                    {"code": "2.2.1", "name": "Cabling", "cost": 8200.75},
                    {"code": "2.2.2", "name": "Switchgear", "cost": 12000},
                    {"code": "2.11", "name": "Snagging", "cost": 300},
                    {"code": "1.1", "name": "Survey", "cost": 900.1},
                ]
            },
            {
                "nodes": [
                    {"code": "4.3.2.1", "name": "Orphan leaf", "cost": 10},
                    {"code": "4", "name": "Top", "cost": 1},
                    {"code": "44", "name": "Not a child of 4", "cost": 100},
                    {"code": "4.4", "name": "Child", "cost": 0.1},
                ]
            },
            {
                "nodes": [
                    {"code": "1", "name": "A", "cost": 0.1},
                    {"code": "1.1", "name": "A1", "cost": 0.2},
                    {"code": "1.1.1", "name": "A11", "cost": 0.3},
                    {"code": "1.1.1.1", "name": "A111", "cost": 0.4},
                    {"code": "1.2", "name": "A2", "cost": 9999999.99},
                ]
            },
            {
                "nodes": [
                    {"code": f"{i}", "name": f"Phase {i}", "cost": i * 1000.5}
                    for i in range(9, 0, -1)
                ]
            },
        ],
    ),
    "budget.category_totals": (
        budget_category_totals,
        [
            _lines(("Panels", "Hardware", 100)),
            _lines(("Free survey", "Services", 0)),
            _lines(
                ("Panels", "Hardware", 120000),
                ("Inverters", "Hardware", 30000),
                ("Racking", "Hardware", 18500.75),
                ("Design", "Services", 42000),
                ("Permits", "Fees", 3500),
                ("Grid study", "Services", 12500.5),
                ("Insurance", "Fees", 2200.1),
                ("Contingency", "Reserve", 20000),
            ),
            _lines(("a", "Beta", 10), ("b", "Alpha", 10), ("c", "Gamma", 5), ("d", "alpha", 10)),
            _lines(("x", "Labour", 0.1), ("y", "Labour", 0.2), ("z", "Materials", 0.3)),
            _lines(
                *[
                    (f"line {i}", ["Civil", "Electrical", "IT"][i % 3], 1234.56 * (i + 1))
                    for i in range(30)
                ]
            ),
            _lines(("big", "Capex", 9999999.99), ("small", "Opex", 0.01)),
        ],
    ),
    "budget.percent_shares": (
        budget_percent_shares,
        [
            {"parts": [{"name": "All", "amount": 42}]},
            {"parts": [{"name": "A", "amount": 1}, {"name": "B", "amount": 2}]},
            {"parts": [{"name": n, "amount": 1} for n in "ABCDEFG"]},
            {
                "parts": [
                    {"name": "Hardware", "amount": 150000},
                    {"name": "Labour", "amount": 80000.5},
                    {"name": "Design", "amount": 42000},
                    {"name": "Fees", "amount": 5700.1},
                    {"name": "Reserve", "amount": 20000},
                ]
            },
            {
                "parts": [
                    {"name": "Zero", "amount": 0},
                    {"name": "Some", "amount": 3},
                    {"name": "More", "amount": 7},
                ]
            },
            {"parts": [{"name": "Nothing", "amount": 0}]},
            {"parts": [{"name": f"P{i}", "amount": 1 + i * 0.37} for i in range(13)]},
            {"parts": [{"name": "tiny", "amount": 1}, {"name": "huge", "amount": 999999999}]},
        ],
    ),
    "budget.variance_report": (
        budget_variance_report,
        [
            {"tolerance_pct": 5, "lines": []},
            {"tolerance_pct": 0, "lines": [{"line": "Exact", "planned": 100, "actual": 100}]},
            {
                "tolerance_pct": 10,
                "lines": [
                    {"line": "Panels", "planned": 120000, "actual": 119000},
                    {"line": "Inverters", "planned": 30000, "actual": 36000},
                    {"line": "Permits", "planned": 3500, "actual": 2000},
                    {"line": "Travel", "planned": 0, "actual": 0},
                    {"line": "Design", "planned": 42000.5, "actual": 46200.55},
                ],
            },
            {
                "tolerance_pct": 2.5,
                "lines": [
                    {"line": "Edge over", "planned": 1000, "actual": 1026},
                    {"line": "Edge under", "planned": 1000, "actual": 974},
                    {"line": "Cancelled", "planned": 5000, "actual": 0},
                ],
            },
            {
                "tolerance_pct": 50,
                "lines": [
                    {"line": f"L{i}", "planned": 1000 * i, "actual": 1700 * i} for i in range(1, 8)
                ],
            },
            {
                "tolerance_pct": 7.5,
                "lines": [{"line": "Unplanned", "planned": 0, "actual": 12345.67}],
            },
        ],
    ),
    "budget.cumulative_cashflow": (
        budget_cumulative_cashflow,
        [
            {"budget": 1000, "months": []},
            {"budget": 0, "months": [{"label": "M1", "spend": 0}]},
            {
                "budget": 500000,
                "months": [{"label": f"2025-{m:02d}", "spend": 35000.25 * m} for m in range(1, 13)],
            },
            {
                "budget": 100,
                "months": [
                    {"label": "a", "spend": 50},
                    {"label": "b", "spend": 50},
                    {"label": "c", "spend": 0.01},
                ],
            },
            {
                "budget": 1e9,
                "months": [
                    {"label": "Q1", "spend": 0.1},
                    {"label": "Q2", "spend": 0.2},
                    {"label": "Q3", "spend": 0.3},
                ],
            },
            {
                "budget": 90000,
                "months": [
                    {"label": "Jan", "spend": 40000},
                    {"label": "Feb", "spend": 40000},
                    {"label": "Mar", "spend": 10000},
                    {"label": "Apr", "spend": 40000},
                ],
            },
            {"budget": 10, "months": [{"label": "x", "spend": 11}]},
        ],
    ),
    "currency.convert_lines": (
        currency_convert_lines,
        [
            {"base": "USD", "rates": {}, "lines": []},
            {
                "base": "USD",
                "rates": {},
                "lines": [
                    {"id": "a", "amount": 10, "currency": "USD"},
                    {"id": "b", "amount": 10, "currency": "EUR"},
                ],
            },
            {
                "base": "DKK",
                "rates": {"EUR": 7.46, "SEK": 0.65, "NOK": 0.64},
                "lines": [
                    {"id": "P1", "amount": 12000, "currency": "EUR"},
                    {"id": "P2", "amount": 55000.5, "currency": "SEK"},
                    {"id": "P3", "amount": -1500, "currency": "EUR"},
                    {"id": "P4", "amount": 800, "currency": "DKK"},
                    {"id": "P5", "amount": 999.99, "currency": "CHF"},
                    {"id": "P6", "amount": 3333.33, "currency": "NOK"},
                ],
            },
            {
                "base": "EUR",
                "rates": {"EUR": 2.0, "USD": 0.9},
                "lines": [
                    {"id": "base wins", "amount": 100, "currency": "EUR"},
                    {"id": "usd", "amount": 0.01, "currency": "USD"},
                ],
            },
            {
                "base": "JPY",
                "rates": {"USD": 151.37},
                "lines": [
                    {"id": f"L{i}", "amount": 19.99 * i, "currency": "USD"} for i in range(1, 11)
                ],
            },
            {
                "base": "GBP",
                "rates": {"EUR": 0.85},
                "lines": [
                    {"id": "x", "amount": 7, "currency": "AUD"},
                    {"id": "y", "amount": 8, "currency": "AUD"},
                ],
            },
        ],
    ),
    "ranking.top_n_costs": (
        ranking_top_n_costs,
        [
            {"n": 3, "items": []},
            {"n": 5, "items": [{"name": "Only", "cost": 10}]},
            {"n": 1, "items": [{"name": "Zero", "cost": 0}, {"name": "Also zero", "cost": 0}]},
            {
                "n": 3,
                "items": [
                    {"name": "Panels", "cost": 120000},
                    {"name": "Inverters", "cost": 30000},
                    {"name": "Racking", "cost": 18500.75},
                    {"name": "Design", "cost": 42000},
                    {"name": "Permits", "cost": 3500},
                    {"name": "Grid study", "cost": 12500.5},
                ],
            },
            {
                "n": 2,
                "items": [
                    {"name": "b", "cost": 5},
                    {"name": "a", "cost": 5},
                    {"name": "c", "cost": 5},
                ],
            },
            {
                "n": 20,
                "items": [
                    {"name": f"Item {i:02d}", "cost": (i * 7919) % 1000 + 0.5} for i in range(25)
                ],
            },
            {
                "n": 4,
                "items": [
                    {"name": "Million", "cost": 1234567.891},
                    {"name": "Cents", "cost": 0.015},
                ],
            },
        ],
    ),
    "schedule.milestone_check": (
        schedule_milestone_check,
        [
            _milestones("2025-01-01", "2025-12-31"),
            _milestones("2025-01-01", "2025-12-31", ("Start", "2025-01-01"), ("End", "2025-12-31")),
            _milestones(
                "2024-01-01",
                "2026-06-30",
                ("Design", "2024-03-31"),
                ("Permits", "2024-04-31"),
                ("Procure", "2024-06-15"),
                ("Build", "2025-02-29"),
                ("Energise", "2026-07-01"),
            ),
            _milestones(
                "2000-01-01",
                "2100-12-31",
                ("Y2K", "2000-02-29"),
                ("Not leap", "2100-02-29"),
                ("Month 13", "2050-13-01"),
                ("Day zero", "2050-01-00"),
                ("Fine", "2099-12-31"),
            ),
            _milestones(
                "2025-01-01",
                "2025-12-31",
                ("C", "2025-05-01"),
                ("A", "2025-03-01"),
                ("B", "2025-04-01"),
                ("D", "2025-06-01"),
            ),
            _milestones(
                "2025-06-01", "2025-06-30", ("Early", "2025-05-31"), ("Late", "2025-07-01")
            ),
            _milestones(
                "2025-01-01",
                "2025-12-31",
                ("Same day", "2025-03-03"),
                ("Same day too", "2025-03-03"),
            ),
        ],
    ),
    "schedule.milestone_gaps": (
        schedule_milestone_gaps,
        [
            _dates(),
            _dates(("Only", "2025-05-05")),
            _dates(
                ("Kick-off", "2025-01-15"),
                ("Design freeze", "2025-03-01"),
                ("Permits", "2025-06-30"),
                ("Energised", "2026-01-15"),
            ),
            _dates(("Later", "2025-12-31"), ("Earlier", "2025-01-01"), ("Again", "2025-01-01")),
            _dates(
                ("Leap", "2024-02-28"),
                ("Day", "2024-03-01"),
                ("Century", "2100-02-28"),
                ("After", "2100-03-01"),
            ),
            _dates(("Old", "1999-12-31"), ("New", "2000-01-01"), ("Far", "2999-12-31")),
            _dates(
                ("A", "2025-03-01"), ("B", "2025-03-11"), ("C", "2025-03-21"), ("D", "2025-03-31")
            ),
        ],
    ),
    "schedule.critical_path_small": (
        schedule_critical_path_small,
        [
            _network(),
            _network(("A", 5, [])),
            _network(("A", 2, []), ("B", 3, []), ("C", 1, ["A", "B"])),
            _network(
                ("A", 3, []),
                ("B", 4, ["A"]),
                ("C", 2, ["A"]),
                ("D", 5, ["B"]),
                ("E", 1, ["C"]),
                ("F", 2, ["D", "E"]),
                ("G", 0, ["F"]),
            ),
            _network(("A", 2, ["B"]), ("B", 3, []), ("C", 1, ["B", "Z"])),
            _network(
                ("S", 0, []),
                ("P1", 10, ["S"]),
                ("P2", 10, ["S"]),
                ("Q", 5, ["P1"]),
                ("E", 0, ["Q", "P2"]),
            ),
            _network(("A", 1, []), ("B", 1, []), ("C", 1, []), ("D", 9, [])),
            _network(
                ("A", 4, []),
                ("B", 0, ["A"]),
                ("C", 6, ["B"]),
                ("D", 3, ["A"]),
                ("E", 2, ["C", "D"]),
            ),
        ],
    ),
    "tasks.dedupe": (
        tasks_dedupe,
        [
            {"tasks": []},
            {"tasks": [{"id": "T1", "title": "Survey", "days": 3}]},
            {
                "tasks": [
                    {"id": "T1", "title": "Survey", "days": 3},
                    {"id": "T1", "title": "Survey", "days": 3},
                    {"id": "T1", "title": "Survey", "days": 3},
                ]
            },
            {
                "tasks": [
                    {"id": "A", "title": "a", "days": 1},
                    {"id": "B", "title": "b", "days": 2},
                    {"id": "A", "title": "a", "days": 9},
                    {"id": "C", "title": "c", "days": 3},
                    {"id": "B", "title": "B", "days": 2},
                    {"id": "D", "title": "d", "days": 0},
                    {"id": "C", "title": "c", "days": 3},
                ]
            },
            {
                "tasks": [
                    {"id": f"T{i % 7}", "title": f"Task {i % 7}", "days": i % 7} for i in range(20)
                ]
            },
            {"tasks": [{"id": "x", "title": "", "days": 0}, {"id": "X", "title": "", "days": 0}]},
        ],
    ),
    "tasks.group_by_owner": (
        tasks_group_by_owner,
        [
            {"tasks": []},
            {"tasks": [{"id": "T1", "owner": "  ", "days": 4}]},
            {
                "tasks": [
                    {"id": "T1", "owner": "Ana", "days": 5},
                    {"id": "T2", "owner": "Ben", "days": 8},
                    {"id": "T3", "owner": "Cy", "days": 8},
                    {"id": "T4", "owner": "Ana", "days": 3},
                    {"id": "T5", "owner": "", "days": 1},
                ]
            },
            {
                "tasks": [
                    {"id": "a", "owner": "zed", "days": 0},
                    {"id": "b", "owner": "Zed", "days": 0},
                ]
            },
            {
                "tasks": [
                    {"id": f"T{i}", "owner": ["Ana", "Ben", " Ana ", "", "Dee"][i % 5], "days": i}
                    for i in range(15)
                ]
            },
            {
                "tasks": [
                    {"id": "u1", "owner": "unassigned", "days": 2},
                    {"id": "u2", "owner": "", "days": 3},
                ]
            },
        ],
    ),
    "checklist.progress": (
        checklist_progress,
        [
            {"markdown": ""},
            {"markdown": "# Notes\nNo tasks at all.\n- a bullet\n"},
            {"markdown": "- [x] Survey\n- [x] Permits\n- [x] Build"},
            {"markdown": "## Launch\n- [ ] Hire crew\n- [ ] Order panels\n* [ ] Book crane\n"},
            {"markdown": "- [x] one\n- [ ] two\n- [ ] three\n"},
            {
                "markdown": "  - [X] indented done  \n\t* [ ] tab indented\n- [x]\n"
                "- [y] not a box\n-[ ] no space\n- [ ]   spaced text   "
            },
            {
                "markdown": "\n".join(
                    f"- [{'x' if i % 3 == 0 else ' '}] step {i}" for i in range(1, 17)
                )
            },
            {"markdown": "- [x] a\n- [x] b\n- [ ] c\n- [x] d\n- [x] e\n- [x] f\n- [x] g\n- [x] h"},
        ],
    ),
    "resources.allocation_check": (
        resources_allocation_check,
        [
            {"capacity_pct": 100, "assignments": []},
            {
                "capacity_pct": 80,
                "assignments": [{"person": "Ana", "task": "Design", "percent": 80}],
            },
            {
                "capacity_pct": 100,
                "assignments": [
                    {"person": "Ana", "task": "Design", "percent": 50},
                    {"person": "Ben", "task": "Build", "percent": 100},
                    {"person": "Ana", "task": "Permits", "percent": 30},
                    {"person": "Cy", "task": "Build", "percent": 20},
                    {"person": "Ben", "task": "Test", "percent": 10},
                    {"person": "Ana", "task": "Design", "percent": 25},
                ],
            },
            {
                "capacity_pct": 150,
                "assignments": [
                    {"person": "Solo", "task": f"T{i}", "percent": 40} for i in range(5)
                ],
            },
            {
                "capacity_pct": 50,
                "assignments": [
                    {"person": "Idle", "task": "", "percent": 0},
                    {"person": "idle", "task": "x", "percent": 51},
                ],
            },
            {
                "capacity_pct": 90,
                "assignments": [
                    {"person": f"P{i % 4}", "task": f"T{i % 3}", "percent": 15 + i}
                    for i in range(12)
                ],
            },
        ],
    ),
    "risk.heat_map": (
        risk_heat_map,
        [
            {"risks": []},
            {"risks": [{"id": "R1", "likelihood": 1, "impact": 1}]},
            {
                "risks": [
                    {"id": "R1", "likelihood": 5, "impact": 5},
                    {"id": "R2", "likelihood": 5, "impact": 5},
                    {"id": "R3", "likelihood": 3, "impact": 5},
                    {"id": "R4", "likelihood": 2, "impact": 4},
                ]
            },
            {
                "risks": [
                    {"id": "Z", "likelihood": 2, "impact": 3},
                    {"id": "A", "likelihood": 3, "impact": 2},
                    {"id": "M", "likelihood": 1, "impact": 6 - 1},
                ]
            },
            {
                "risks": [
                    {"id": f"R{i:02d}", "likelihood": 1 + i % 5, "impact": 1 + (i * 3) % 5}
                    for i in range(40)
                ]
            },
            {
                "risks": [
                    {"id": "grid", "likelihood": 4, "impact": 4},
                    {"id": "supply", "likelihood": 3, "impact": 5},
                    {"id": "weather", "likelihood": 5, "impact": 3},
                ]
            },
        ],
    ),
    "stakeholders.raci_check": (
        stakeholders_raci_check,
        [
            {"max_accountable": 2, "activities": []},
            {"max_accountable": 1, "activities": [{"name": "Empty", "roles": {}}]},
            {
                "max_accountable": 1,
                "activities": [
                    {"name": "Design", "roles": {"Ana": "A", "Ben": "R"}},
                    {"name": "Build", "roles": {"Cy": "A", "Ben": "R", "Dee": "R", "Eve": "I"}},
                ],
            },
            {
                "max_accountable": 1,
                "activities": [
                    {"name": "One", "roles": {"Ana": "A", "Ben": "R"}},
                    {"name": "Two", "roles": {"Ana": "A", "Cy": "R"}},
                    {"name": "Three", "roles": {"Zoe": "A", "Ana": "A", "Yan": "A"}},
                ],
            },
            {
                "max_accountable": 3,
                "activities": [
                    {
                        "name": f"Act {i}",
                        "roles": {"Ana": "A" if i % 2 else "R", "Ben": "A" if i % 2 == 0 else "C"},
                    }
                    for i in range(8)
                ],
            },
            {
                "max_accountable": 2,
                "activities": [
                    {"name": "Consult only", "roles": {"Ana": "C", "Ben": "I"}},
                    {"name": "Resp only", "roles": {"Ana": "R"}},
                ],
            },
        ],
    ),
    "stakeholders.normalize_names": (
        stakeholders_normalize_names,
        [
            {"names": []},
            {"names": ["", "   ", "\t"]},
            {
                "names": [
                    "jean-luc picard",
                    "JEAN-LUC PICARD",
                    "Jean-Luc  Picard",
                    "beverly crusher",
                ]
            },
            {"names": ["o'neil", "mary   ann   evans", "Mary Ann Evans", "  x  "]},
            {"names": ["Zoë Ångström", "zoë ångström", "ZOË ÅNGSTRÖM", "Ada"]},
            {"names": [f"person {i % 6}" for i in range(18)]},
            {"names": ["city council", "City Council ", "utility co", "residents' association"]},
        ],
    ),
    "stakeholders.power_interest": (
        stakeholders_power_interest,
        [
            {"threshold": 5, "stakeholders": []},
            {"threshold": 1, "stakeholders": [{"name": "Everyone", "power": 1, "interest": 1}]},
            {
                "threshold": 10,
                "stakeholders": [
                    {"name": "Nearly", "power": 9, "interest": 10},
                    {"name": "Top", "power": 10, "interest": 10},
                ],
            },
            {
                "threshold": 6,
                "stakeholders": [
                    {"name": "Utility", "power": 9, "interest": 8},
                    {"name": "Regulator", "power": 10, "interest": 4},
                    {"name": "Neighbours", "power": 2, "interest": 7},
                    {"name": "Bank", "power": 7, "interest": 6},
                    {"name": "Media", "power": 4, "interest": 3},
                    {"name": "Alpha co", "power": 6, "interest": 6},
                ],
            },
            {
                "threshold": 5,
                "stakeholders": [
                    {"name": f"S{i}", "power": 1 + i % 10, "interest": 10 - i % 10}
                    for i in range(20)
                ],
            },
        ],
    ),
    "report.markdown_table": (
        report_markdown_table,
        [
            {"columns": [{"key": "a", "header": "A", "align": "left"}], "rows": []},
            {
                "columns": [
                    {"key": "task", "header": "Task", "align": "left"},
                    {"key": "owner", "header": "Owner", "align": "center"},
                    {"key": "days", "header": "Days", "align": "right"},
                ],
                "rows": [
                    {"task": "Survey", "owner": "Ana", "days": 5},
                    {"task": "Permits", "days": 20},
                    {"task": "Build\nphase", "owner": "Ben|Cy", "days": 40},
                    {"extra": "ignored"},
                ],
            },
            {
                "columns": [
                    {"key": "x", "header": "Pipe | header", "align": "right"},
                    {"key": "y", "header": "", "align": "center"},
                ],
                "rows": [{"x": 0, "y": "|"}, {"x": -12, "y": ""}],
            },
            {
                "columns": [{"key": "n", "header": "N", "align": "right"}],
                "rows": [{"n": i * i} for i in range(12)],
            },
            {
                "columns": [
                    {"key": "risk", "header": "Risk", "align": "left"},
                    {"key": "level", "header": "Level", "align": "left"},
                ],
                "rows": [
                    {"risk": "Grid delay", "level": "high"},
                    {"risk": "Theft", "level": "medium"},
                ],
            },
        ],
    ),
    "docs.markdown_toc": (
        docs_markdown_toc,
        [
            {"markdown": "", "max_level": 6},
            {"markdown": "# Only title", "max_level": 1},
            {"markdown": "## Start at two\n### Three\n#### Four\n## Back to two\n", "max_level": 3},
            {"markdown": "# Plan\n## Risks\n## Risks\n## Risks\ntext\n# Risks\n", "max_level": 6},
            {
                "markdown": "#Nospace\n####### seven\n#  \n#\tTabbed title\n"
                "  # indented is not a heading\n## Trailing ##  ",
                "max_level": 6,
            },
            {
                "markdown": "# Budget (2025): €1.2M, v2_final!\n"
                "## Café & Co. — Phase 1\n## snake_case_name\n",
                "max_level": 2,
            },
            {
                "markdown": "\n".join(f"{'#' * (1 + i % 4)} Section {i}" for i in range(12)),
                "max_level": 3,
            },
        ],
    ),
    "text.slugify": (
        text_slugify,
        [
            {"titles": [], "max_length": 40},
            {"titles": ["!!!", "", "   "], "max_length": 10},
            {
                "titles": ["Site Survey", "site survey", "SITE  SURVEY!", "Site-Survey"],
                "max_length": 40,
            },
            {
                "titles": [
                    "Grid connection & metering (phase 2)",
                    "Naïve résumé über",
                    "2025 Q3 review",
                ],
                "max_length": 20,
            },
            {
                "titles": ["a b c d e f g h i j k l m n o p", "abcdefghijklmnopqrstuvwxyz"],
                "max_length": 10,
            },
            {"titles": ["Install battery storage", "Install battery enclosure"], "max_length": 16},
            {"titles": [f"Report {i % 3}" for i in range(7)], "max_length": 40},
        ],
    ),
    "text.acronyms": (
        text_acronyms,
        [
            {"text": "", "glossary": {}},
            {"text": "nothing upper here. A I", "glossary": {"A": "article"}},
            {
                "text": "The PPA with the DSO covers PV and BESS. The PPA is signed; PPAs renew.",
                "glossary": {
                    "PPA": "Power purchase agreement",
                    "BESS": "Battery energy storage system",
                },
            },
            {
                "text": "Use [HSE] rules, \"QA\" checks and 'QC' gates "
                "(HSE first!) - NASA? ABCDEFG too long.",
                "glossary": {"QA": "Quality assurance", "NASA": "space"},
            },
            {
                "text": "KPIs: OPEX, CAPEX; ROIs and IRR. Ops isn't an acronym, nor is CO2.",
                "glossary": {"IRR": "Internal rate of return"},
            },
            {
                "text": "ÉDF and ÖBB are utilities; UK and EU too.",
                "glossary": {"EU": "European Union"},
            },
        ],
    ),
    "text.truncate_summaries": (
        text_truncate_summaries,
        [
            {"max_chars": 20, "items": []},
            {
                "max_chars": 10,
                "items": [
                    {"id": "exact", "text": "0123456789"},
                    {"id": "one over", "text": "0123456789A"},
                ],
            },
            {
                "max_chars": 40,
                "items": [
                    {
                        "id": "T1",
                        "text": "Procure and install 830 kW of bifacial modules "
                        "on the east field, in two phases.",
                    },
                    {"id": "T2", "text": "   lots    of\n\nwhite   space   "},
                    {"id": "T3", "text": "Commission the battery, then hand over to operations."},
                ],
            },
            {
                "max_chars": 15,
                "items": [
                    {"id": "punct", "text": "Design, build, test, operate and maintain"},
                    {"id": "dash", "text": "Grid - connection - study now"},
                ],
            },
            {
                "max_chars": 12,
                "items": [{"id": "long word", "text": "Electroluminescence imaging"}],
            },
            {
                "max_chars": 200,
                "items": [{"id": f"L{i}", "text": "word " * (10 * i)} for i in range(1, 6)],
            },
        ],
    ),
    "ids.sequence_check": (
        ids_sequence_check,
        [
            {"prefix": "REQ-", "width": 3, "ids": []},
            {"prefix": "REQ-", "width": 3, "ids": ["REQ-001", "REQ-002", "REQ-003"]},
            {
                "prefix": "RSK-",
                "width": 2,
                "ids": ["RSK-01", "RSK-05", "RSK-05", "RSK-10", "RSK-1", "REQ-02"],
            },
            {
                "prefix": "TSK-",
                "width": 4,
                "ids": ["TSK-0003", "TSK-0001", "TSK-0003", "TSK-0001", "TSK-0007"],
            },
            {"prefix": "AB-", "width": 1, "ids": ["AB-1", "AB-2", "AB-12", "ABC-3", "AB-9"]},
            {"prefix": "REQ-", "width": 3, "ids": ["REQ-000", "REQ-100"]},
            {"prefix": "MS-", "width": 2, "ids": ["XY-01", "XY-02"]},
        ],
    ),
    "units.to_metric": (
        units_to_metric,
        [
            {"decimals": 2, "items": []},
            {"decimals": 0, "items": [{"name": "freezing", "value": 32, "unit": "degF"}]},
            {
                "decimals": 3,
                "items": [
                    {"name": "cable", "value": 1500, "unit": "ft"},
                    {"name": "trench", "value": 0.75, "unit": "mi"},
                    {"name": "conduit", "value": 36, "unit": "in"},
                    {"name": "fence", "value": 220, "unit": "yd"},
                    {"name": "pad", "value": 12.5, "unit": "m"},
                ],
            },
            {
                "decimals": 2,
                "items": [
                    {"name": "bolts", "value": 40, "unit": "oz"},
                    {"name": "panels", "value": 45.5, "unit": "lb"},
                    {"name": "concrete", "value": 12, "unit": "ton_us"},
                    {"name": "gravel", "value": 800, "unit": "kg"},
                ],
            },
            {
                "decimals": 4,
                "items": [
                    {"name": "coolant", "value": 55, "unit": "gal_us"},
                    {"name": "oil", "value": 3, "unit": "qt_us"},
                    {"name": "water", "value": 1000, "unit": "l"},
                    {"name": "roof", "value": 5400, "unit": "sqft"},
                    {"name": "site", "value": 4.2, "unit": "acre"},
                    {"name": "slab", "value": 30, "unit": "m2"},
                ],
            },
            {
                "decimals": 1,
                "items": [
                    {"name": "cold", "value": -40, "unit": "degF"},
                    {"name": "hot", "value": 113, "unit": "degF"},
                    {"name": "length", "value": -3, "unit": "ft"},
                ],
            },
            {
                "decimals": 6,
                "items": [
                    {"name": "tiny", "value": 0.001, "unit": "in"},
                    {"name": "big", "value": 1000000, "unit": "acre"},
                ],
            },
        ],
    ),
}
"""Capability -> (reference function, hidden inputs)."""


# -- the harder corpus ---------------------------------------------------------------------------
#
# Written as plan authors write specs: amounts with a minimum and no maximum, optional fields,
# empty lists, free text, keys that are Python keywords ('class', 'from', 'for', 'in'), and
# dates. References use datetime and plain loops.

_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _d(text: str) -> date:
    return date.fromisoformat(text)


def schedule_milestone_slippage(inp: Json) -> Json:
    status = _d(inp["status_date"])
    rows = []
    for m in inp["milestones"]:
        planned = _d(m["planned"])
        actual = m.get("actual")
        reference = _d(actual) if actual is not None else status
        late = max(0, (reference - planned).days)
        if actual is not None:
            state = "done"
        elif status > planned:
            state = "overdue"
        else:
            state = "open"
        rows.append(
            {"name": m["name"], "planned": m["planned"], "actual": actual,
             "days_late": late, "status": state}
        )  # fmt: skip
    worst = None
    for r in rows:
        if r["days_late"] > 0 and (worst is None or r["days_late"] > worst["days_late"]):
            worst = r
    return {
        "milestones": rows,
        "total_days_late": sum(r["days_late"] for r in rows),
        "worst": worst["name"] if worst else None,
        "overdue": [r["name"] for r in rows if r["status"] == "overdue"],
    }


def schedule_deadline_weekdays(inp: Json) -> Json:
    rows = []
    for d in inp["deadlines"]:
        due = _d(d["due"])
        moved = due.weekday() >= 5
        effective = due + timedelta(days=7 - due.weekday()) if moved else due
        rows.append(
            {"task": d["task"], "due": d["due"], "weekday": due.strftime("%A"),
             "moved": moved, "effective": effective.isoformat()}
        )  # fmt: skip
    return {"deadlines": rows, "moved": [r["task"] for r in rows if r["moved"]]}


def schedule_sequential_task_dates(inp: Json) -> Json:
    day = _d(inp["start"])
    tasks = []
    for t in inp["tasks"]:
        end = day + timedelta(days=t["duration_days"])
        tasks.append(
            {"name": t["name"], "duration_days": t["duration_days"],
             "start": day.isoformat(), "end": end.isoformat()}
        )  # fmt: skip
        day = end
    total = sum(t["duration_days"] for t in inp["tasks"])
    return {"tasks": tasks, "finish": day.isoformat(), "total_days": total}


def budget_contingency_reserve(inp: Json) -> Json:
    rate = {"low": 0.05, "medium": 0.10, "high": 0.20}
    items = []
    for i in inp["items"]:
        risk = i.get("risk", "medium")
        items.append(
            {"name": i["name"], "cost": i["cost"], "risk": risk,
             "reserve": round(i["cost"] * rate[risk], 2)}
        )  # fmt: skip
    base = round(sum(i["cost"] for i in inp["items"]), 2)
    reserve = round(sum(i["reserve"] for i in items), 2)
    return {
        "items": items,
        "base_total": base,
        "reserve_total": reserve,
        "grand_total": round(base + reserve, 2),
        "reserve_pct": round(100 * reserve / base, 1) if base else 0.0,
    }


def procurement_lead_time_slack(inp: Json) -> Json:
    rows = []
    for p in inp["purchases"]:
        window = (_d(p["needed_by"]) - _d(p["order_date"])).days
        slack = window - p["lead_time_days"]
        rows.append({"item": p["item"], "slack_days": slack, "late": slack < 0})
    ordered = sorted(rows, key=lambda r: r["slack_days"])  # stable: listed order on ties
    return {
        "purchases": rows,
        "late_items": [r["item"] for r in rows if r["late"]],
        "min_slack": min((r["slack_days"] for r in rows), default=None),
        "by_slack": [r["item"] for r in ordered],
    }


def resources_energy_use(inp: Json) -> Json:
    rows = []
    for e in inp["equipment"]:
        kwh = round(e["power_kw"] * e["hours_per_day"] * e["days"], 1)
        rows.append({"name": e["name"], "kwh": kwh, "cost": round(kwh * inp["tariff_per_kwh"], 2)})
    largest = None
    for r in rows:
        if largest is None or r["kwh"] > largest["kwh"]:
            largest = r
    return {
        "equipment": rows,
        "total_kwh": round(sum(r["kwh"] for r in rows), 1),
        "total_cost": round(sum(r["cost"] for r in rows), 2),
        "largest": largest["name"] if largest else None,
    }


def risk_cost_exposure(inp: Json) -> Json:
    rows = []
    by_class: dict[str, float] = {}
    for r in inp["risks"]:
        expected = round(r["probability"] * r["cost_impact"], 2)
        mitigate = r["mitigation_cost"] < expected if "mitigation_cost" in r else None
        rows.append(
            {"id": r["id"], "class": r["class"], "expected_cost": expected, "mitigate": mitigate}
        )
    for row in rows:
        by_class[row["class"]] = by_class.get(row["class"], 0) + row["expected_cost"]
    return {
        "risks": rows,
        "by_class": {c: round(v, 2) for c, v in by_class.items()},
        "total_expected": round(sum(r["expected_cost"] for r in rows), 2),
        "worth_mitigating": [r["id"] for r in rows if r["mitigate"]],
    }


def stakeholders_communication_plan(inp: Json) -> Json:
    lines = []
    per_sender: dict[str, int] = {}
    for line in inp["lines"]:
        times = 365 // line["every_days"]
        lines.append(
            {"label": f"{line['from']} -> {line['to']} ({line['channel']})", "per_year": times}
        )
        per_sender[line["from"]] = per_sender.get(line["from"], 0) + times
    senders = [{"sender": s, "per_year": per_sender[s]} for s in sorted(per_sender)]
    busiest = None
    for s in senders:
        if busiest is None or s["per_year"] > busiest["per_year"]:
            busiest = s
    return {"lines": lines, "by_sender": senders, "busiest": busiest["sender"] if busiest else None}


def procurement_vendor_quotes(inp: Json) -> Json:
    quotes = []
    for q in inp["quotes"]:
        net = round(q["amount"] * (1 - q.get("discount_pct", 0) / 100), 2)
        quotes.append({"vendor": q["vendor"], "for": q["for"], "net": net})
    choices = []
    seen: list[str] = []
    for q in quotes:
        if q["for"] in seen:
            continue
        seen.append(q["for"])
        same_item = [x for x in quotes if x["for"] == q["for"]]
        best = same_item[0]
        for x in same_item[1:]:
            if x["net"] < best["net"]:
                best = x
        worst = max(x["net"] for x in same_item)
        choices.append(
            {"for": q["for"], "vendor": best["vendor"], "net": best["net"],
             "saving": round(worst - best["net"], 2)}
        )  # fmt: skip
    return {
        "quotes": quotes,
        "choices": choices,
        "total": round(sum(c["net"] for c in choices), 2),
    }


def schedule_working_days(inp: Json) -> Json:
    rows = []
    for p in inp["phases"]:
        start, end = _d(p["start"]), _d(p["end"])
        calendar = max(0, (end - start).days + 1)
        weeks, rest = divmod(calendar, 7)
        working = weeks * 5
        for i in range(rest):
            if (start + timedelta(days=i)).weekday() < 5:
                working += 1
        rows.append(
            {"name": p["name"], "start": p["start"], "end": p["end"],
             "calendar_days": calendar, "working_days": working}
        )  # fmt: skip
    return {
        "phases": rows,
        "invalid": [p["name"] for p in inp["phases"] if _d(p["end"]) < _d(p["start"])],
        "total_working_days": sum(r["working_days"] for r in rows),
    }


def resources_fuel_plan(inp: Json) -> Json:
    rows = []
    for m in inp["machines"]:
        litres = round(m["litres_per_hour"] * m["hours"], 1)
        tank = m.get("tank_litres")
        loads = math.ceil(litres / tank) if tank else None
        rows.append(
            {"name": m["name"], "litres": litres,
             "cost": round(litres * inp["price_per_litre"], 2), "tank_loads": loads}
        )  # fmt: skip
    return {
        "machines": rows,
        "total_litres": round(sum(r["litres"] for r in rows), 1),
        "total_cost": round(sum(r["cost"] for r in rows), 2),
    }


def budget_payment_schedule(inp: Json) -> Json:
    signed, report = _d(inp["signed"]), _d(inp["report_date"])
    rows = []
    for i in inp["instalments"]:
        due = _d(i["due"])
        if i.get("paid"):
            status = "paid"
        elif due < report:
            status = "overdue"
        else:
            status = "due"
        rows.append(
            {"label": i["label"], "amount": round(inp["value"] * i["percent"] / 100, 2),
             "day": (due - signed).days, "status": status}
        )  # fmt: skip
    total = sum(i["percent"] for i in inp["instalments"])
    return {
        "instalments": rows,
        "percent_total": total,
        "complete": abs(total - 100) <= 0.001,
        "paid_total": round(sum(r["amount"] for r in rows if r["status"] == "paid"), 2),
        "overdue_total": round(sum(r["amount"] for r in rows if r["status"] == "overdue"), 2),
    }


def milestones_status_report(inp: Json) -> Json:
    as_of = _d(inp["as_of"])
    rows, lines = [], []
    for m in inp["milestones"]:
        due = _d(m["due"])
        done_on = m.get("done_on")
        if done_on is not None:
            status, days = "done", max(0, (_d(done_on) - due).days)
            lines.append(f"- [x] {m['name']}")
        elif due < as_of:
            status, days = "overdue", (as_of - due).days
            lines.append(f"- [ ] {m['name']} ({days} days overdue)")
        else:
            status, days = "upcoming", (due - as_of).days
            lines.append(f"- [ ] {m['name']} (due in {days} days)")
        rows.append(
            {"name": m["name"], "due": m["due"], "done_on": done_on, "status": status,
             "days": days}
        )  # fmt: skip
    upcoming = [r for r in rows if r["status"] == "upcoming"]
    nearest = None
    for r in upcoming:
        if nearest is None or r["due"] < nearest["due"]:
            nearest = r
    return {
        "milestones": rows,
        "next": nearest["name"] if nearest else None,
        "markdown": "\n".join(lines),
    }


def resources_staffing_cost(inp: Json) -> Json:
    rows = []
    for r in inp["roles"]:
        days = max(0, (_d(r["end"]) - _d(r["start"])).days + 1)
        person_days = r["headcount"] * days
        rows.append(
            {"role": r["role"], "days": days, "headcount": r["headcount"],
             "day_rate": r["day_rate"], "person_days": person_days,
             "cost": round(person_days * r["day_rate"], 2)}
        )  # fmt: skip
    dearest = None
    for row in rows:
        if dearest is None or row["cost"] > dearest["cost"]:
            dearest = row
    return {
        "roles": rows,
        "flagged": [r["role"] for r in inp["roles"] if _d(r["end"]) < _d(r["start"])],
        "total_cost": round(sum(r["cost"] for r in rows), 2),
        "total_person_days": sum(r["person_days"] for r in rows),
        "most_expensive": dearest["role"] if dearest else None,
    }


def inventory_stock_ledger(inp: Json) -> Json:
    opening = inp.get("opening", {})
    totals: dict[str, dict[str, Any]] = {}
    for e in inp["entries"]:
        row = totals.setdefault(e["material"], {"material": e["material"], "in": 0, "out": 0})
        row["in"] += e["in"]
        row["out"] += e["out"]
    materials = []
    for row in totals.values():
        balance = round(opening.get(row["material"], 0) + row["in"] - row["out"], 3)
        materials.append({**row, "balance": balance})
    return {
        "materials": materials,
        "reorder": [m["material"] for m in materials if m["balance"] < inp["reorder_level"]],
        "negative": [m["material"] for m in materials if m["balance"] < 0],
    }


def risk_register_summary(inp: Json) -> Json:
    rows = []
    for r in inp["risks"]:
        score = r["likelihood"] * r["impact"]
        level = "high" if score >= 15 else "medium" if score >= 8 else "low"
        rows.append({"id": r["id"], "score": score, "level": level})
    counts: dict[str, int] = {}
    for r in inp["risks"]:
        owner = r.get("owner") or "unassigned"
        counts[owner] = counts.get(owner, 0) + 1
    top = sorted(rows, key=lambda r: -r["score"])[:3]
    high_cost = 0.0
    for r, row in zip(inp["risks"], rows, strict=True):
        if row["level"] == "high":
            high_cost += r.get("cost_impact", 0)
    return {
        "risks": rows,
        "by_owner": [{"owner": o, "count": counts[o]} for o in sorted(counts)],
        "top3": [r["id"] for r in top],
        "high_cost": round(high_cost, 2),
    }


HARDER_HIDDEN: dict[str, tuple[Reference, list[Json]]] = {
    "schedule.milestone_slippage": (
        schedule_milestone_slippage,
        [
            {"status_date": "2025-06-30", "milestones": []},
            {
                "status_date": "2025-03-01",
                "milestones": [
                    {"name": "Permit", "planned": "2025-02-28", "actual": "2025-02-28"},
                    {"name": "Grid study", "planned": "2024-12-31", "actual": "2025-01-02"},
                    {"name": "Design freeze", "planned": "2025-02-01"},
                    {"name": "Order panels", "planned": "2025-03-15", "owner": "Procurement"},
                ],
            },
            {
                "status_date": "2024-03-01",
                "milestones": [
                    {"name": "A", "planned": "2024-02-28"},
                    {"name": "B", "planned": "2024-02-27", "actual": "2024-03-01"},
                    {"name": "C", "planned": "2024-02-29", "actual": "2024-02-01"},
                ],
            },
            {
                "status_date": "2025-01-01",
                "milestones": [
                    {"name": "Kick-off", "planned": "2025-01-01"},
                    {"name": "Early", "planned": "2025-05-01", "actual": "2025-04-01"},
                ],
            },
            {
                "status_date": "2030-12-31",
                "milestones": [
                    {"name": "Phase 1", "planned": "2026-01-31"},
                    {"name": "Phase 2", "planned": "2027-01-31"},
                    {"name": "Phase 3", "planned": "2027-01-31", "actual": "2031-01-31"},
                ],
            },
        ],
    ),
    "schedule.deadline_weekdays": (
        schedule_deadline_weekdays,
        [
            {"deadlines": []},
            {"deadlines": [{"task": "Tender closes", "due": "2025-05-31"}], "region": "EU"},
            {
                "deadlines": [
                    {"task": "Monday", "due": "2025-06-02"},
                    {"task": "Friday", "due": "2025-06-06"},
                    {"task": "Saturday", "due": "2025-06-07"},
                    {"task": "Sunday", "due": "2025-06-08"},
                ]
            },
            {
                "deadlines": [
                    {"task": "Year end", "due": "2028-12-31"},
                    {"task": "Leap", "due": "2032-02-29"},
                ]
            },
            {
                "deadlines": [
                    {"task": "Audit", "due": "2024-12-28"},
                    {"task": "Audit", "due": "2024-12-29"},
                    {"task": "Report", "due": "2024-12-30"},
                ]
            },
        ],
    ),
    "schedule.sequential_task_dates": (
        schedule_sequential_task_dates,
        [
            {"start": "2025-01-01", "tasks": []},
            {
                "start": "2024-02-27",
                "tasks": [
                    {"name": "Survey", "duration_days": 2},
                    {"name": "Permit granted", "duration_days": 0},
                    {"name": "Groundworks", "duration_days": 30},
                ],
            },
            {
                "start": "2025-12-01",
                "tasks": [
                    {"name": "Install", "duration_days": 45},
                    {"name": "Commission", "duration_days": 365},
                ],
                "notes": "winter works",
            },
            {"start": "2025-03-10", "tasks": [{"name": "Only", "duration_days": 0}]},
            {
                "start": "2026-01-31",
                "tasks": [{"name": f"Step {i}", "duration_days": i * 7} for i in range(1, 6)],
            },
        ],
    ),
    "budget.contingency_reserve": (
        budget_contingency_reserve,
        [
            {"items": []},
            {"items": [{"name": "Design", "cost": 0}], "currency": "EUR"},
            {
                "items": [
                    {"name": "Panels", "cost": 1250000, "risk": "low"},
                    {"name": "Inverters", "cost": 310000.4, "risk": "high"},
                    {"name": "Civil works", "cost": 487123.31},
                    {"name": "Permits", "cost": 12000, "risk": "medium", "note": "fixed fee"},
                ]
            },
            {"items": [{"name": "Grid connection", "cost": 2500000000, "risk": "high"}]},
            {
                "items": [
                    {"name": "Cables", "cost": 1234.56, "risk": "low"},
                    {"name": "Fencing", "cost": 987.65},
                ],
                "currency": "USD",
            },
        ],
    ),
    "procurement.lead_time_slack": (
        procurement_lead_time_slack,
        [
            {"purchases": []},
            {
                "purchases": [
                    {
                        "item": "Transformer",
                        "order_date": "2025-01-15",
                        "needed_by": "2025-09-01",
                        "lead_time_days": 210,
                        "supplier": "ABB",
                    },
                    {
                        "item": "Panels",
                        "order_date": "2025-03-01",
                        "needed_by": "2025-04-15",
                        "lead_time_days": 60,
                    },
                    {
                        "item": "Cables",
                        "order_date": "2025-03-01",
                        "needed_by": "2025-04-15",
                        "lead_time_days": 45,
                    },
                ]
            },
            {
                "purchases": [
                    {
                        "item": "Switchgear",
                        "order_date": "2024-02-01",
                        "needed_by": "2024-03-01",
                        "lead_time_days": 29,
                    },
                    {
                        "item": "Steel",
                        "order_date": "2024-02-01",
                        "needed_by": "2024-03-01",
                        "lead_time_days": 30,
                    },
                ]
            },
            {
                "purchases": [
                    {
                        "item": "Backdated",
                        "order_date": "2025-06-01",
                        "needed_by": "2025-05-01",
                        "lead_time_days": 0,
                    },
                ]
            },
            {
                "purchases": [
                    {
                        "item": "A",
                        "order_date": "2025-01-01",
                        "needed_by": "2025-02-01",
                        "lead_time_days": 10,
                    },
                    {
                        "item": "B",
                        "order_date": "2025-01-01",
                        "needed_by": "2025-01-22",
                        "lead_time_days": 0,
                    },
                    {
                        "item": "C",
                        "order_date": "2025-01-01",
                        "needed_by": "2026-01-01",
                        "lead_time_days": 1000,
                    },
                ]
            },
        ],
    ),
    "resources.energy_use": (
        resources_energy_use,
        [
            {"tariff_per_kwh": 0.25, "equipment": []},
            {
                "tariff_per_kwh": 0.31,
                "equipment": [
                    {"name": "Site office", "power_kw": 3.5, "hours_per_day": 10, "days": 120},
                    {"name": "Tower crane", "power_kw": 45, "hours_per_day": 8, "days": 60},
                    {"name": "Floodlights", "power_kw": 2.4, "hours_per_day": 12.5, "days": 90},
                ],
            },
            {
                "tariff_per_kwh": 0,
                "equipment": [{"name": "Pump", "power_kw": 7.5, "hours_per_day": 24, "days": 30}],
            },
            {
                "tariff_per_kwh": 0.18,
                "equipment": [
                    {"name": "Idle", "power_kw": 0, "hours_per_day": 24, "days": 365},
                    {"name": "Welder", "power_kw": 12, "hours_per_day": 0, "days": 5},
                ],
            },
            {
                "tariff_per_kwh": 0.2,
                "equipment": [
                    {"name": "Mixer A", "power_kw": 5, "hours_per_day": 4, "days": 10},
                    {"name": "Mixer B", "power_kw": 10, "hours_per_day": 2, "days": 10},
                ],
            },
        ],
    ),
    "risk.cost_exposure": (
        risk_cost_exposure,
        [
            {"risks": []},
            {
                "risks": [
                    {
                        "id": "R1",
                        "title": "Module price rise",
                        "class": "financial",
                        "probability": 0.3,
                        "cost_impact": 250000,
                        "mitigation_cost": 40000,
                    },
                    {
                        "id": "R2",
                        "title": "Grid delay",
                        "class": "schedule",
                        "probability": 0.5,
                        "cost_impact": 120000,
                    },
                    {
                        "id": "R3",
                        "title": "FX swing",
                        "class": "financial",
                        "probability": 0.15,
                        "cost_impact": 80000,
                        "mitigation_cost": 15000,
                    },
                ]
            },
            {
                "risks": [
                    {
                        "id": "T1",
                        "title": "Inverter firmware",
                        "class": "technical",
                        "probability": 1,
                        "cost_impact": 0,
                        "mitigation_cost": 0,
                    },
                    {
                        "id": "G1",
                        "title": "Permit rules change",
                        "class": "regulatory",
                        "probability": 0,
                        "cost_impact": 1000000,
                    },
                ]
            },
            {
                "risks": [
                    {
                        "id": "X",
                        "title": "Exact",
                        "class": "technical",
                        "probability": 0.5,
                        "cost_impact": 1000,
                        "mitigation_cost": 500,
                    },
                    {
                        "id": "Y",
                        "title": "Just below",
                        "class": "technical",
                        "probability": 0.5,
                        "cost_impact": 1000,
                        "mitigation_cost": 499.99,
                    },
                ]
            },
            {
                "risks": [
                    {
                        "id": "BIG",
                        "title": "Dam failure",
                        "class": "technical",
                        "probability": 0.01,
                        "cost_impact": 900000000,
                        "mitigation_cost": 1e6,
                    },
                ]
            },
        ],
    ),
    "stakeholders.communication_plan": (
        stakeholders_communication_plan,
        [
            {"lines": []},
            {
                "lines": [
                    {
                        "from": "PMO",
                        "to": "Steering committee",
                        "channel": "report",
                        "every_days": 30,
                    },
                    {"from": "PMO", "to": "Site team", "channel": "meeting", "every_days": 7},
                    {
                        "from": "Community liaison",
                        "to": "Residents",
                        "channel": "email",
                        "every_days": 14,
                        "purpose": "works notices",
                    },
                ]
            },
            {
                "lines": [
                    {"from": "zeta", "to": "a", "channel": "call", "every_days": 365},
                    {"from": "alpha", "to": "b", "channel": "call", "every_days": 400},
                ]
            },
            {
                "lines": [
                    {"from": "B", "to": "X", "channel": "email", "every_days": 1},
                    {"from": "A", "to": "Y", "channel": "email", "every_days": 1},
                ]
            },
            {
                "lines": [
                    {"from": "Owner", "to": "Owner", "channel": "meeting", "every_days": 2},
                    {"from": "Owner", "to": "Bank", "channel": "report", "every_days": 91},
                ]
            },
        ],
    ),
    "procurement.vendor_quotes": (
        procurement_vendor_quotes,
        [
            {"quotes": []},
            {
                "quotes": [
                    {"vendor": "SunCo", "for": "panels", "amount": 412000},
                    {"vendor": "Helios", "for": "panels", "amount": 430000, "discount_pct": 6},
                    {
                        "vendor": "GridTech",
                        "for": "inverters",
                        "amount": 98000,
                        "discount_pct": 2.5,
                        "valid_until": "2025-07-31",
                    },
                ]
            },
            {
                "quotes": [
                    {"vendor": "A", "for": "cable", "amount": 1000, "discount_pct": 10},
                    {"vendor": "B", "for": "cable", "amount": 900},
                    {"vendor": "C", "for": "cable", "amount": 950},
                ]
            },
            {"quotes": [{"vendor": "Solo", "for": "crane hire", "amount": 0}]},
            {
                "quotes": [
                    {"vendor": "X", "for": "steel", "amount": 1234.5, "discount_pct": 100},
                    {"vendor": "Y", "for": "concrete", "amount": 5000, "discount_pct": 12.5},
                    {"vendor": "Z", "for": "steel", "amount": 100},
                ]
            },
        ],
    ),
    "schedule.working_days": (
        schedule_working_days,
        [
            {"phases": []},
            {
                "phases": [
                    {"name": "Design", "start": "2025-06-02", "end": "2025-06-08"},
                    {"name": "Build", "start": "2025-06-09", "end": "2025-08-29", "owner": "EPC"},
                ]
            },
            {
                "phases": [
                    {"name": "Weekend only", "start": "2025-06-07", "end": "2025-06-08"},
                    {"name": "One day", "start": "2025-06-04", "end": "2025-06-04"},
                    {"name": "Backwards", "start": "2025-06-10", "end": "2025-06-01"},
                ]
            },
            {"phases": [{"name": "Leap month", "start": "2024-02-01", "end": "2024-02-29"}]},
            {"phases": [{"name": "Two years", "start": "2024-01-01", "end": "2025-12-31"}]},
        ],
    ),
    "resources.fuel_plan": (
        resources_fuel_plan,
        [
            {"price_per_litre": 1.8, "machines": []},
            {
                "price_per_litre": 1.65,
                "machines": [
                    {
                        "name": "Generator 100 kVA",
                        "litres_per_hour": 18,
                        "hours": 250,
                        "tank_litres": 200,
                    },
                    {"name": "Excavator", "litres_per_hour": 12.5, "hours": 160},
                    {"name": "Light tower", "litres_per_hour": 1.2, "hours": 300, "tank_litres": 0},
                ],
            },
            {
                "price_per_litre": 0,
                "machines": [
                    {
                        "name": "Idle generator",
                        "litres_per_hour": 0,
                        "hours": 100,
                        "tank_litres": 50,
                    },
                ],
            },
            {
                "price_per_litre": 2,
                "machines": [
                    {"name": "Exact tanks", "litres_per_hour": 10, "hours": 40, "tank_litres": 100},
                    {"name": "Just over", "litres_per_hour": 10, "hours": 41, "tank_litres": 100},
                ],
            },
            {
                "price_per_litre": 1.5,
                "machines": [{"name": "Dumper", "litres_per_hour": 7.25, "hours": 10}],
            },
        ],
    ),
    "budget.payment_schedule": (
        budget_payment_schedule,
        [
            {
                "value": 100000,
                "signed": "2025-01-01",
                "report_date": "2025-01-01",
                "instalments": [],
            },
            {
                "value": 2400000,
                "signed": "2025-01-15",
                "report_date": "2025-07-01",
                "instalments": [
                    {"label": "Advance", "percent": 20, "due": "2025-01-31", "paid": True},
                    {"label": "Delivery", "percent": 50, "due": "2025-05-31"},
                    {"label": "Commissioning", "percent": 25, "due": "2025-09-30"},
                    {"label": "Retention", "percent": 5, "due": "2026-09-30", "paid": False},
                ],
            },
            {
                "value": 999.99,
                "signed": "2024-02-28",
                "report_date": "2024-03-01",
                "instalments": [
                    {"label": "A", "percent": 33.3, "due": "2024-02-29"},
                    {"label": "B", "percent": 33.3, "due": "2024-03-01"},
                    {"label": "C", "percent": 33.4, "due": "2024-03-02", "paid": True},
                ],
            },
            {
                "value": 0,
                "signed": "2025-06-01",
                "report_date": "2025-12-31",
                "instalments": [{"label": "Only", "percent": 60, "due": "2025-05-01"}],
            },
            {
                "value": 1500000,
                "signed": "2025-03-01",
                "report_date": "2025-03-01",
                "instalments": [
                    {"label": "Early", "percent": 40, "due": "2025-02-01", "paid": True},
                    {"label": "Today", "percent": 60, "due": "2025-03-01"},
                ],
            },
        ],
    ),
    "milestones.status_report": (
        milestones_status_report,
        [
            {"as_of": "2025-06-30", "milestones": []},
            {
                "as_of": "2025-06-30",
                "milestones": [
                    {"name": "Financial close", "due": "2025-03-31", "done_on": "2025-04-10"},
                    {"name": "Notice to proceed", "due": "2025-05-15"},
                    {"name": "Mechanical completion", "due": "2025-11-30", "notes": "weather risk"},
                    {"name": "COD", "due": "2025-08-31"},
                ],
            },
            {
                "as_of": "2024-03-01",
                "milestones": [
                    {"name": "Early", "due": "2024-03-10", "done_on": "2024-02-29"},
                    {"name": "Today", "due": "2024-03-01"},
                    {"name": "Tie 1", "due": "2024-04-01"},
                    {"name": "Tie 2", "due": "2024-04-01"},
                ],
            },
            {
                "as_of": "2026-01-01",
                "milestones": [{"name": "Late", "due": "2025-01-01"}],
            },
            {
                "as_of": "2025-01-01",
                "milestones": [
                    {"name": "Done late", "due": "2024-12-01", "done_on": "2024-12-24"},
                    {"name": "Done early", "due": "2025-02-01", "done_on": "2024-12-24"},
                ],
            },
        ],
    ),
    "resources.staffing_cost": (
        resources_staffing_cost,
        [
            {"roles": []},
            {
                "currency": "EUR",
                "roles": [
                    {
                        "role": "Site manager",
                        "headcount": 1,
                        "day_rate": 650,
                        "start": "2025-03-01",
                        "end": "2025-08-31",
                    },
                    {
                        "role": "Electricians",
                        "headcount": 6,
                        "day_rate": 380.5,
                        "start": "2025-05-01",
                        "end": "2025-07-31",
                    },
                    {
                        "role": "HSE officer",
                        "headcount": 1,
                        "day_rate": 420,
                        "start": "2025-03-01",
                        "end": "2025-03-01",
                    },
                ],
            },
            {
                "roles": [
                    {
                        "role": "Backwards",
                        "headcount": 3,
                        "day_rate": 500,
                        "start": "2025-06-10",
                        "end": "2025-06-01",
                    },
                    {
                        "role": "Nobody",
                        "headcount": 0,
                        "day_rate": 900,
                        "start": "2025-06-01",
                        "end": "2025-06-30",
                    },
                ]
            },
            {
                "roles": [
                    {
                        "role": "Leap",
                        "headcount": 2,
                        "day_rate": 100,
                        "start": "2024-02-01",
                        "end": "2024-03-01",
                    },
                    {
                        "role": "Same cost",
                        "headcount": 1,
                        "day_rate": 6000,
                        "start": "2024-01-01",
                        "end": "2024-01-01",
                    },
                ]
            },
            {
                "roles": [
                    {
                        "role": "Long",
                        "headcount": 250,
                        "day_rate": 1234.56,
                        "start": "2025-01-01",
                        "end": "2029-12-31",
                    },
                ]
            },
        ],
    ),
    "inventory.stock_ledger": (
        inventory_stock_ledger,
        [
            {"reorder_level": 100, "entries": []},
            {
                "reorder_level": 500,
                "opening": {"diesel": 2000, "cement": 120},
                "entries": [
                    {"material": "diesel", "in": 0, "out": 850.5, "date": "2025-04-01"},
                    {"material": "cement", "in": 400, "out": 0},
                    {"material": "diesel", "in": 1000, "out": 1900},
                    {"material": "rebar", "in": 12.25, "out": 3},
                ],
            },
            {
                "reorder_level": 0,
                "entries": [
                    {"material": "gravel", "in": 10, "out": 25},
                    {"material": "sand", "in": 5, "out": 5},
                ],
            },
            {
                "reorder_level": 1,
                "opening": {"water": 1000000000},
                "entries": [{"material": "water", "in": 0.001, "out": 0.002}],
            },
            {
                "reorder_level": 50,
                "opening": {"unused": 5},
                "entries": [
                    {"material": "paint", "in": 30, "out": 0},
                    {"material": "paint", "in": 20, "out": 0},
                ],
            },
        ],
    ),
    "risk.register_summary": (
        risk_register_summary,
        [
            {"risks": []},
            {
                "risks": [
                    {
                        "id": "R-01",
                        "title": "Supplier insolvency",
                        "owner": "Procurement",
                        "likelihood": 3,
                        "impact": 5,
                        "cost_impact": 450000,
                    },
                    {"id": "R-02", "title": "Flooding of the site", "likelihood": 2, "impact": 4},
                    {
                        "id": "R-03",
                        "title": "Permit appeal",
                        "owner": "Legal",
                        "likelihood": 4,
                        "impact": 4,
                    },
                    {
                        "id": "R-04",
                        "title": "Crane accident",
                        "owner": "HSE",
                        "likelihood": 1,
                        "impact": 5,
                        "cost_impact": 2000000,
                    },
                    {
                        "id": "R-05",
                        "title": "Late design",
                        "owner": "",
                        "likelihood": 5,
                        "impact": 3,
                        "cost_impact": 125000.5,
                    },
                ]
            },
            {
                "risks": [
                    {"id": "A", "title": "tie", "likelihood": 2, "impact": 2},
                    {"id": "B", "title": "tie", "likelihood": 1, "impact": 4},
                    {"id": "C", "title": "tie", "likelihood": 4, "impact": 1},
                    {"id": "D", "title": "tie", "likelihood": 2, "impact": 2},
                ]
            },
            {
                "risks": [
                    {
                        "id": "H",
                        "title": "High without cost",
                        "owner": "zed",
                        "likelihood": 5,
                        "impact": 5,
                    },
                ]
            },
            {
                "risks": [
                    {
                        "id": "M1",
                        "title": "eight",
                        "owner": "Ann",
                        "likelihood": 2,
                        "impact": 4,
                        "cost_impact": 10,
                    },
                    {
                        "id": "M2",
                        "title": "fifteen",
                        "owner": "ann",
                        "likelihood": 3,
                        "impact": 5,
                        "cost_impact": 0,
                    },
                ]
            },
        ],
    ),
}
"""The harder corpus: capability -> (reference function, hidden inputs)."""
