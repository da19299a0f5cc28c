-- `trace.text` gets a cheaper full-text index. The trigram index of 0002 tokenized every
-- character of every span; spans repeat most of their text (keys, ids, the messages an agent
-- passes down to its LLM spans, the same prompts trace after trace), so the new index keeps
-- each distinct trigram once a document, a document covering the spans of a few traces that
-- one indexing pass read. ferroflow folds and cuts the trigrams itself and writes them as hex
-- words; the FTS5 table only keeps which documents hold which word (contentless, no
-- positions). A search takes the traces of the documents holding every trigram of the
-- pattern, then checks the pattern on those traces' spans.

DROP TRIGGER spans_text_delete;
DROP TRIGGER spans_text_update;
DROP TABLE span_text;

CREATE VIRTUAL TABLE trace_text USING fts5(
    grams, content='', contentless_delete=1, detail='none', tokenize='ascii'
);

-- The traces of each document.
CREATE TABLE trace_text_docs (
    doc       INTEGER NOT NULL,
    trace_key INTEGER NOT NULL,
    PRIMARY KEY (doc, trace_key)
) WITHOUT ROWID;
CREATE INDEX trace_text_docs_by_trace ON trace_text_docs (trace_key);

-- Traces with a span whose text changed after it was stored (a re-sent span with other
-- content): the indexer rebuilds their documents. Ids only grow, so the indexer deletes just
-- the entries it has seen.
CREATE TABLE trace_text_stale (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_key INTEGER NOT NULL
);
CREATE TRIGGER spans_text_changed AFTER UPDATE OF name, attributes ON spans
WHEN old.name IS NOT new.name OR old.attributes IS NOT new.attributes BEGIN
    INSERT INTO trace_text_stale (trace_key) VALUES (new.trace_key);
END;

-- A deleted trace leaves its documents; a document no trace is left in goes.
CREATE TRIGGER traces_text_delete AFTER DELETE ON traces BEGIN
    DELETE FROM trace_text WHERE rowid IN (SELECT d.doc FROM trace_text_docs d WHERE d.trace_key = old.trace_key
        AND NOT EXISTS (SELECT 1 FROM trace_text_docs o WHERE o.doc = d.doc AND o.trace_key != old.trace_key));
    DELETE FROM trace_text_docs WHERE trace_key = old.trace_key;
    DELETE FROM trace_text_stale WHERE trace_key = old.trace_key;
END;

-- Everything is indexed again in the new form.
UPDATE span_text_progress SET indexed_key = 0;

-- Documents arrive in large batches, in rowid order: merging segments eight at a time
-- instead of four halves how often each document is rewritten.
INSERT INTO trace_text (trace_text, rank) VALUES ('automerge', 8);
INSERT INTO trace_text (trace_text, rank) VALUES ('crisismerge', 32);
