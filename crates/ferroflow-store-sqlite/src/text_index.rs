//! The `trace.text` full-text index: trigrams of span names and attributes in an FTS5 table,
//! filled by a background task, and the SQL that answers `trace.text LIKE '%…%'` with it.
//!
//! A document is the set of distinct trigrams of the spans of a few neighbouring traces that one
//! indexing pass read (see [`TRACES_PER_DOC`]); `trace_text_docs` names its traces. Trigrams are
//! case-folded and written as hex words, so the FTS5 table only stores which documents hold
//! which word. A search takes the traces whose documents hold every trigram of the pattern,
//! adds the traces with spans the indexer has not reached (or whose text changed since), and
//! checks the pattern itself on those traces' spans: results are exact and always complete,
//! however far the indexer lags.

use crate::error::Context;
use ferroflow_core::{Error, Result};
use futures::TryStreamExt;
use rustc_hash::FxHashSet;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Spans one indexing pass reads at most. A pass holds its spans' text and trigrams in
/// memory, so this bounds the indexer's share of the server's memory during ingest.
const BATCH_SPANS: usize = 5_000;
/// Text one indexing pass reads at most (names and attributes), so huge spans stay cheap.
const BATCH_BYTES: usize = 8 << 20;
/// Traces a document covers at most. Traces next to each other share most of their trigrams
/// (keys, common words, the same ids and prompts), so a document of many traces is far
/// smaller than theirs apart; a search then checks the pattern on a few more traces.
const TRACES_PER_DOC: usize = 32;
/// Stale traces one pass rebuilds at most.
const BATCH_STALE: i64 = 64;
/// Spans the index may lag behind while ingest is busy; past this the indexer runs anyway,
/// which bounds what a text search has to scan.
const MAX_LAG: i64 = 200_000;
/// Ingest counts as busy for this long after its last batch.
const INGEST_QUIET_MS: i64 = 300;
/// Trigrams of a pattern a search asks the index for: more narrow little and cost a doclist each.
const MAX_QUERY_GRAMS: usize = 8;

/// Three case-folded characters packed into one integer (21 bits each).
type Gram = u64;

/// Calls `f` with each trigram of `text`, repeats included.
fn each_gram(text: &str, mut f: impl FnMut(Gram)) {
    let mut window: Gram = 0;
    let mut filled = 0;
    for c in text.chars() {
        let mut push = |folded: char| {
            window = ((window << 21) | folded as Gram) & ((1 << 63) - 1);
            filled += 1;
            if filled >= 3 {
                f(window);
            }
        };
        if c.is_ascii() {
            push(c.to_ascii_lowercase());
        } else {
            c.to_lowercase().for_each(&mut push);
        }
    }
}

/// The distinct trigrams of one document at a time. Most trigrams are ASCII, and a bitmap of
/// every ASCII trigram (2^21 bits) dedups them for a bit test each; others go to a hash set.
struct GramSet {
    ascii: Vec<u64>,
    other: FxHashSet<Gram>,
    grams: Vec<Gram>,
}

impl GramSet {
    fn new() -> Self {
        GramSet { ascii: vec![0; 1 << 15], other: FxHashSet::default(), grams: Vec::new() }
    }

    /// The bit of an all-ASCII trigram in the bitmap.
    fn ascii_bit(gram: Gram) -> Option<usize> {
        let (a, b, c) = (gram >> 42, (gram >> 21) & 0x1F_FFFF, gram & 0x1F_FFFF);
        (a < 128 && b < 128 && c < 128).then_some(((a << 14) | (b << 7) | c) as usize)
    }

    fn insert(&mut self, gram: Gram) {
        let new = match Self::ascii_bit(gram) {
            Some(bit) => {
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                let new = self.ascii[word] & mask == 0;
                self.ascii[word] |= mask;
                new
            }
            None => self.other.insert(gram),
        };
        if new {
            self.grams.push(gram);
        }
    }

    fn add_text(&mut self, text: &str) {
        each_gram(text, |gram| self.insert(gram));
    }

    /// The document's trigrams; the set is empty again for the next one.
    fn take(&mut self) -> Vec<Gram> {
        let grams = std::mem::take(&mut self.grams);
        for bit in grams.iter().filter_map(|gram| Self::ascii_bit(*gram)) {
            self.ascii[bit / 64] = 0;
        }
        self.other.clear();
        grams
    }
}

/// A trigram as the word the index stores: the hex of its UTF-8 bytes.
fn push_word(gram: Gram, out: &mut String) {
    let mut bytes = [0u8; 12];
    let mut len = 0;
    for shift in [42, 21, 0] {
        let c = char::from_u32(((gram >> shift) & 0x1F_FFFF) as u32).unwrap_or('\u{FFFD}');
        len += c.encode_utf8(&mut bytes[len..]).len();
    }
    let mut word = [0u8; 24];
    if hex::encode_to_slice(&bytes[..len], &mut word[..2 * len]).is_ok() {
        out.push_str(std::str::from_utf8(&word[..2 * len]).unwrap_or_default());
    }
}

/// The FTS5 query for a LIKE pattern: every trigram of its literal parts (an even sample of
/// them, in gram order, for long patterns), or `None` when no literal part has three characters.
fn match_query(pattern: &str) -> Option<String> {
    let mut ordered: Vec<Gram> = Vec::new();
    for part in pattern.split(['%', '_']) {
        each_gram(part, |gram| ordered.push(gram));
    }
    ordered.sort_unstable();
    ordered.dedup();
    if ordered.is_empty() {
        return None;
    }
    let step = ordered.len().div_ceil(MAX_QUERY_GRAMS);
    let mut query = String::new();
    for gram in ordered.iter().step_by(step.max(1)) {
        if !query.is_empty() {
            query.push_str(" AND ");
        }
        query.push('"');
        push_word(*gram, &mut query);
        query.push('"');
    }
    Some(query)
}

/// Traces `t` whose indexed documents hold every trigram of `text` (a test's view of the index).
#[cfg(test)]
pub(crate) fn push_index_condition(builder: &mut QueryBuilder<'_, Sqlite>, text: &str) {
    builder.push(
        "t.trace_key IN (SELECT d.trace_key FROM trace_text_docs d WHERE d.doc IN \
         (SELECT rowid FROM trace_text WHERE trace_text MATCH ",
    );
    builder.push_bind(match_query(text).unwrap_or_default());
    builder.push("))");
}

/// How a `trace.text` condition finds its traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextPlan {
    /// Only traces the index names (or it has not reached) are checked; used as a filter on
    /// rows read in another order, or as the set a page is read from.
    Indexed,
    /// Every trace read is checked with the pattern itself: for a page read newest first and a
    /// pattern so common that the page fills after a few traces, skipping the index is cheaper
    /// than collecting the hundreds of thousands of traces it names.
    Scan,
}

/// Documents past which a pattern counts as common (see [`text_plan`]). A page read from the
/// index's candidates costs about one pattern check per candidate (32 traces a document); one
/// read newest first costs about `page / share of matching traces` checks. The two meet near
/// the square root of page × traces: a few hundred documents for 100 traces of a million.
const RARE_DOCS: i64 = if cfg!(test) { 2 } else { 256 };

/// Whether a page ordered newest first should read the index's candidates (a rare pattern:
/// [`TextPlan::Indexed`], with the experiment condition kept off the time index) or scan
/// newest first ([`TextPlan::Scan`]). Counts the pattern's documents up to [`RARE_DOCS`].
pub(crate) async fn text_plan(pool: &SqlitePool, pattern: &str) -> Result<TextPlan> {
    let Some(query) = match_query(pattern) else {
        return Ok(TextPlan::Scan); // nothing the index can narrow
    };
    let docs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM trace_text WHERE trace_text MATCH ? LIMIT ?)")
            .bind(query)
            .bind(RARE_DOCS)
            .fetch_one(pool)
            .await
            .context(|| format!("counting the text index's documents for {pattern}"))?;
    Ok(if docs < RARE_DOCS { TextPlan::Indexed } else { TextPlan::Scan })
}

/// `trace.text LIKE|ILIKE '<pattern>'` as a condition on the trace row `t`.
pub(crate) fn push_text_condition(builder: &mut QueryBuilder<'_, Sqlite>, pattern: &str, plan: TextPlan) {
    if let (TextPlan::Indexed, Some(query)) = (plan, match_query(pattern)) {
        builder.push(
            "(t.trace_key IN (SELECT d.trace_key FROM trace_text_docs d WHERE d.doc IN \
             (SELECT rowid FROM trace_text WHERE trace_text MATCH ",
        );
        builder.push_bind(query);
        builder.push(
            ")) OR t.trace_key IN (SELECT s.trace_key FROM spans s \
             WHERE s.span_key > (SELECT indexed_key FROM span_text_progress WHERE id = 0)) \
             OR t.trace_key IN (SELECT trace_key FROM trace_text_stale)) AND ",
        );
    }
    builder.push("EXISTS (SELECT 1 FROM spans s WHERE s.trace_key = t.trace_key AND (s.name LIKE ");
    builder.push_bind(pattern.to_string());
    builder.push(" OR s.attributes LIKE ");
    builder.push_bind(pattern.to_string());
    builder.push("))");
}

/// The distinct trigrams of the spans of a few traces.
struct Doc {
    traces: Vec<i64>,
    grams: Vec<Gram>,
}

/// One span's text as the indexer reads it.
struct TextRow {
    span_key: i64,
    trace_key: i64,
    name: String,
    attributes: String,
}

/// Documents for `rows`: their traces in key order, [`TRACES_PER_DOC`] to a document.
fn fold_rows(mut rows: Vec<TextRow>) -> Vec<Doc> {
    rows.sort_unstable_by_key(|row| (row.trace_key, row.span_key));
    let mut set = GramSet::new();
    let mut docs = Vec::new();
    let mut traces = Vec::new();
    for trace in rows.chunk_by(|a, b| a.trace_key == b.trace_key) {
        traces.push(trace[0].trace_key);
        for row in trace {
            set.add_text(&row.name);
            set.add_text(&row.attributes);
        }
        if traces.len() == TRACES_PER_DOC {
            docs.push(Doc { traces: std::mem::take(&mut traces), grams: set.take() });
        }
    }
    if !traces.is_empty() {
        docs.push(Doc { traces, grams: set.take() });
    }
    docs
}

/// Runs CPU-bound folding off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::internal(e.to_string()))
}

fn text_row(row: &sqlx::sqlite::SqliteRow) -> TextRow {
    TextRow { span_key: row.get(0), trace_key: row.get(1), name: row.get(2), attributes: row.get(3) }
}

/// Indexes the next spans past the mark and rebuilds the documents of stale traces; returns
/// how many spans it read. Reads come from one snapshot of the read pool; only the inserts
/// take the writer.
pub(crate) async fn index_batch(read: &SqlitePool, write: &SqlitePool) -> Result<u64> {
    let mut snapshot = read.begin().await.context(|| "indexing trace text")?;
    let mark: i64 = sqlx::query("SELECT indexed_key FROM span_text_progress WHERE id = 0")
        .fetch_one(&mut *snapshot)
        .await
        .context(|| "loading the trace text mark")?
        .get(0);
    let rows = spans_past(&mut snapshot, mark).await?;
    let read_spans = rows.len() as u64;
    let last = rows.last().map(|row| row.span_key).unwrap_or(mark);
    let stale = stale_entries(&mut snapshot).await?;
    if rows.is_empty() && stale.is_empty() {
        return Ok(0);
    }
    let mut docs = blocking(move || fold_rows(rows)).await?;
    // A stale trace gets a document of its own from all its indexed spans; the documents it
    // shared keep its old trigrams, which can only add candidates.
    let stale_traces: FxHashSet<i64> = stale.iter().map(|(_, key)| *key).collect();
    for &trace_key in &stale_traces {
        docs.push(stale_document(&mut snapshot, trace_key, mark).await?);
    }
    drop(snapshot);

    let mut tx = write.begin().await.context(|| "indexing trace text")?;
    forget_documents(&mut tx, &stale_traces).await?;
    keep_live_traces(&mut tx, &mut docs).await?;
    insert_documents(&mut tx, &docs).await?;
    advance_marks(&mut tx, last, &stale).await?;
    tx.commit().await.context(|| "indexing trace text")?;
    Ok(read_spans.max(stale.len() as u64))
}

/// The next spans past `mark`, up to [`BATCH_SPANS`] spans or [`BATCH_BYTES`] of text.
async fn spans_past(snapshot: &mut SqliteConnection, mark: i64) -> Result<Vec<TextRow>> {
    let mut rows = Vec::new();
    let mut bytes = 0;
    let mut stream =
        sqlx::query("SELECT span_key, trace_key, name, attributes FROM spans WHERE span_key > ? ORDER BY span_key")
            .bind(mark)
            .fetch(&mut *snapshot);
    while let Some(row) =
        stream.try_next().await.context(|| format!("reading spans past {mark} for the trace text index"))?
    {
        let row = text_row(&row);
        bytes += row.name.len() + row.attributes.len();
        rows.push(row);
        if rows.len() >= BATCH_SPANS || bytes >= BATCH_BYTES {
            break;
        }
    }
    Ok(rows)
}

/// The oldest entries of `trace_text_stale`: `(id, trace_key)`.
async fn stale_entries(snapshot: &mut SqliteConnection) -> Result<Vec<(i64, i64)>> {
    let rows = sqlx::query("SELECT id, trace_key FROM trace_text_stale ORDER BY id LIMIT ?")
        .bind(BATCH_STALE)
        .fetch_all(&mut *snapshot)
        .await
        .context(|| "loading stale trace text entries")?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// One document of all the indexed spans (up to `mark`) of a trace, read a page at a time.
async fn stale_document(snapshot: &mut SqliteConnection, trace_key: i64, mark: i64) -> Result<Doc> {
    let mut set = GramSet::new();
    let mut after = 0;
    loop {
        let page: Vec<TextRow> = sqlx::query(
            "SELECT span_key, trace_key, name, attributes FROM spans \
             WHERE trace_key = ? AND span_key > ? AND span_key <= ? ORDER BY span_key LIMIT ?",
        )
        .bind(trace_key)
        .bind(after)
        .bind(mark)
        .bind(BATCH_SPANS as i64)
        .fetch_all(&mut *snapshot)
        .await
        .context(|| format!("loading spans of trace #{trace_key} for the trace text index"))?
        .iter()
        .map(text_row)
        .collect();
        let Some(next) = page.last().map(|row| row.span_key) else { break };
        let full = page.len() >= BATCH_SPANS;
        set = blocking(move || {
            for row in &page {
                set.add_text(&row.name);
                set.add_text(&row.attributes);
            }
            set
        })
        .await?;
        if !full {
            break;
        }
        after = next;
    }
    Ok(Doc { traces: vec![trace_key], grams: set.take() })
}

/// Removes the stale traces from the index: documents of theirs alone go; shared ones stay
/// for their other traces.
async fn forget_documents(tx: &mut SqliteConnection, stale_traces: &FxHashSet<i64>) -> Result<()> {
    if stale_traces.is_empty() {
        return Ok(());
    }
    let stale_list = serde_json::to_string(&stale_traces.iter().collect::<Vec<_>>()).unwrap_or_default();
    sqlx::query(
        "DELETE FROM trace_text WHERE rowid IN (SELECT d.doc FROM trace_text_docs d \
         WHERE d.trace_key IN (SELECT value FROM json_each(?1)) AND NOT EXISTS (SELECT 1 FROM trace_text_docs o \
             WHERE o.doc = d.doc AND o.trace_key NOT IN (SELECT value FROM json_each(?1))))",
    )
    .bind(&stale_list)
    .execute(&mut *tx)
    .await
    .context(|| "removing trace text documents of stale traces")?;
    sqlx::query("DELETE FROM trace_text_docs WHERE trace_key IN (SELECT value FROM json_each(?))")
        .bind(&stale_list)
        .execute(&mut *tx)
        .await
        .context(|| "removing trace text documents of stale traces")?;
    Ok(())
}

/// Drops traces deleted since the snapshot from the documents, and documents left empty.
async fn keep_live_traces(tx: &mut SqliteConnection, docs: &mut Vec<Doc>) -> Result<()> {
    let keys: Vec<i64> = docs.iter().flat_map(|doc| doc.traces.iter().copied()).collect();
    let alive: FxHashSet<i64> =
        sqlx::query("SELECT trace_key FROM traces WHERE trace_key IN (SELECT value FROM json_each(?))")
            .bind(serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()))
            .fetch_all(&mut *tx)
            .await
            .context(|| "checking which indexed traces still exist")?
            .iter()
            .map(|row| row.get(0))
            .collect();
    for doc in docs.iter_mut() {
        doc.traces.retain(|key| alive.contains(key));
    }
    docs.retain(|doc| !doc.traces.is_empty() && !doc.grams.is_empty());
    Ok(())
}

/// Writes the documents (as hex words) and their member traces, numbered past the last
/// document: only this task adds documents, inside the writer's transaction.
async fn insert_documents(tx: &mut SqliteConnection, docs: &[Doc]) -> Result<()> {
    let mut next_doc: i64 = sqlx::query("SELECT coalesce(max(doc), 0) + 1 FROM trace_text_docs")
        .fetch_one(&mut *tx)
        .await
        .context(|| "numbering trace text documents")?
        .get(0);
    for chunk in docs.chunks(100) {
        let first = next_doc;
        next_doc += chunk.len() as i64;
        let words: Vec<String> = chunk
            .iter()
            .map(|doc| {
                let mut text = String::with_capacity(doc.grams.len() * 7);
                for gram in &doc.grams {
                    push_word(*gram, &mut text);
                    text.push(' ');
                }
                text
            })
            .collect();
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO trace_text (rowid, grams) ");
        builder.push_values(words.iter().enumerate(), |mut b, (i, text)| {
            b.push_bind(first + i as i64).push_bind(text.as_str());
        });
        builder.build().execute(&mut *tx).await.context(|| "inserting trace text documents")?;
        let members: Vec<(i64, i64)> = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, doc)| doc.traces.iter().map(move |key| (first + i as i64, *key)))
            .collect();
        for members in members.chunks(5000) {
            let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO trace_text_docs (doc, trace_key) ");
            builder.push_values(members, |mut b, (doc, key)| {
                b.push_bind(*doc).push_bind(*key);
            });
            builder.build().execute(&mut *tx).await.context(|| "inserting trace text document members")?;
        }
    }
    Ok(())
}

/// Moves the span mark to `last` and clears the stale entries that were read.
async fn advance_marks(tx: &mut SqliteConnection, last: i64, stale: &[(i64, i64)]) -> Result<()> {
    sqlx::query("UPDATE span_text_progress SET indexed_key = ? WHERE id = 0")
        .bind(last)
        .execute(&mut *tx)
        .await
        .context(|| "advancing the trace text mark")?;
    if let Some(seen) = stale.iter().map(|(id, _)| *id).max() {
        sqlx::query("DELETE FROM trace_text_stale WHERE id <= ?")
            .bind(seen)
            .execute(&mut *tx)
            .await
            .context(|| "clearing stale trace text entries")?;
    }
    Ok(())
}

/// How many spans wait to be indexed.
async fn lag(read: &SqlitePool) -> Result<i64> {
    let row = sqlx::query(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'spans'), 0) - \
                (SELECT indexed_key FROM span_text_progress WHERE id = 0)",
    )
    .fetch_one(read)
    .await
    .context(|| "measuring the trace text index lag")?;
    Ok(row.get(0))
}

/// Keeps the index caught up: a pass whenever spans wait, a short nap when none do. Ingest
/// has the writer first: while spans keep arriving the indexer waits, unless the lag grows
/// past [`MAX_LAG`]. Ends when the store closes.
pub(crate) async fn index_in_background(read: SqlitePool, write: SqlitePool, last_ingest: Arc<AtomicI64>) {
    while !write.is_closed() {
        let busy = ferroflow_core::time::now_millis() - last_ingest.load(Ordering::Relaxed) < INGEST_QUIET_MS;
        if busy && lag(&read).await.unwrap_or(0) < MAX_LAG {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        match index_batch(&read, &write).await {
            Ok(count) if count as usize >= BATCH_SPANS => tokio::task::yield_now().await,
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(error) => {
                if !write.is_closed() {
                    tracing::warn!(error = %error.message, "text indexing failed; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut set = GramSet::new();
        set.add_text(text);
        let mut out: Vec<String> = set
            .take()
            .into_iter()
            .map(|g| {
                let mut w = String::new();
                push_word(g, &mut w);
                w
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn trigrams_are_folded_and_distinct() {
        // "aba" "bab" once each, whatever the case.
        assert_eq!(words("abAB"), vec!["616261", "626162"]);
        assert_eq!(words("ab"), Vec::<String>::new());
        // Non-ASCII characters fold too and keep their UTF-8 bytes.
        assert_eq!(words("ÉTÉ"), words("été"));
        assert_eq!(words("été"), vec!["c3a974c3a9"]);
    }

    #[test]
    fn neighbouring_traces_share_documents() {
        let rows: Vec<TextRow> = (0..70)
            .rev()
            .map(|i| TextRow {
                span_key: 100 + i,
                trace_key: i + 1,
                name: "step".into(),
                attributes: format!("{{\"i\": \"t{i}\"}}"),
            })
            .collect();
        let docs = fold_rows(rows);
        let sizes: Vec<usize> = docs.iter().map(|doc| doc.traces.len()).collect();
        assert_eq!(sizes, vec![32, 32, 6]);
        assert_eq!(docs[0].traces[..3], [1, 2, 3]);
        // The shared text once, the distinct ids each.
        let mut set = GramSet::new();
        set.add_text("step");
        set.add_text("{\"i\": \"t0\"}");
        assert!(docs[0].grams.len() < 32 * set.take().len() / 4);
    }

    #[test]
    fn a_set_starts_empty_again_after_take() {
        let mut set = GramSet::new();
        set.add_text("abcd été");
        assert_eq!(set.take().len(), 6);
        set.add_text("abcd été xyz");
        assert_eq!(set.take().len(), 10);
        assert!(set.take().is_empty());
    }

    #[test]
    fn pattern_queries() {
        assert_eq!(match_query("%ab%"), None);
        assert_eq!(match_query("%a_bcd%").as_deref(), Some("\"626364\""));
        assert_eq!(match_query("%ABC%x%").as_deref(), Some("\"616263\""));
        let long = match_query("%the quick brown fox jumps over the lazy dog%").unwrap();
        assert_eq!(long.matches(" AND ").count() + 1, MAX_QUERY_GRAMS);
    }
}
