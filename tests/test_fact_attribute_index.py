"""The facts of an attribute (search: a question placed in an attribute; digest: the current
facts a new one may supersede) come from migration m007's partial indexes, and are exactly the
facts the JSON of each fact names (the scan the indexes replace)."""

import json

from memcli.core.models import NewItem

SCAN = ("SELECT id FROM items WHERE kind = 'fact' AND {current}"
        "lower(json_extract(meta, '$.subject')) = ? AND (json_extract(meta, '$.attribute') = ?"
        "{topic} OR EXISTS (SELECT 1 FROM json_each(items.meta, '$.attributes') WHERE value = ?)) "
        "ORDER BY created_at, id")


def _fact(i, subject, attributes, topic=None):
    meta = {"subject": subject, "attribute": attributes[0] if attributes else None,
            "attributes": attributes, **({"topic": topic} if topic else {})}
    return NewItem(text=f"fact number {i} about {subject}", kind="fact", source="digest",
                   created_at=f"2024-01-{1 + i % 28:02d}T10:00:00Z", key=f"f{i}", meta=meta)


def test_facts_of_an_attribute_match_the_json_scan_and_use_the_indexes(mem):
    shapes = [["residence"], ["employer"], ["residence", "employer"], ["employer", "residence"],
              [], ["car"]]
    items = []
    for i in range(60):
        attrs = shapes[i % len(shapes)]
        items.append(_fact(i, "User" if i % 5 else "Anna", attrs,
                           topic="residence" if i % 7 == 0 and not attrs else None))
    items.append(NewItem(text="a message about residence", kind="message", source="jsonl",
                         created_at="2024-01-02T10:00:00Z", key="m1",
                         meta={"subject": "User", "attribute": "residence"}))
    mem.add_items(items)
    conn = mem.store.conn
    with mem.store.transaction():  # every fourth fact closed
        conn.execute("UPDATE items SET valid_to = '2024-06-01T00:00:00Z' WHERE kind = 'fact' "
                     "AND CAST(substr(key, 2) AS INTEGER) % 4 = 0")
    for attribute in ("residence", "employer", "car", "diet"):
        for subject in ("User", "anna"):
            every = [r[0] for r in conn.execute(
                SCAN.format(current="", topic=" OR json_extract(meta, '$.topic') = ?"),
                (subject.lower(), attribute, attribute, attribute))]
            current = [r[0] for r in conn.execute(
                SCAN.format(current="valid_to IS NULL AND ", topic=""),
                (subject.lower(), attribute, attribute))]
            assert [r["id"] for r in mem.store.facts_with_attribute(attribute, subject)] == every
            assert [r["id"] for r in
                    mem.store.current_facts_with_attribute(attribute, subject)] == current
    assert any(mem.store.facts_with_attribute("residence", "User"))
    assert any(json.loads(r["meta"]).get("topic") == "residence"
               for r in mem.store.facts_with_attribute("residence", "User"))
    real = conn.execute  # the plan of the store's own query: every branch on its index
    plans = []

    def explain(sql, params=()):
        if "INDEXED BY" in sql:
            plans.extend(str(r) for r in real("EXPLAIN QUERY PLAN " + sql, params))
        return real(sql, params)

    class Spy:
        def __getattr__(self, name):
            return explain if name == "execute" else getattr(conn, name)

    mem.store.conn = Spy()
    try:
        mem.store.facts_with_attribute("residence", "User")
    finally:
        mem.store.conn = conn
    plan = " ".join(plans)
    for index in ("items_fact_attribute ", "items_fact_topic", "items_fact_attributes"):
        assert f"USING INDEX {index}" in plan, plan
    assert "SCAN items" not in plan
