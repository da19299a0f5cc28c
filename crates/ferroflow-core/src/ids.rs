//! Identifiers the server mints, in MLflow's formats (../shared/spec/mlflow-rest.md §3.1).

/// 32 lowercase hex characters, as MLflow's run ids.
pub fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn new_run_id() -> String {
    new_hex_id()
}

/// `a-` + 32 hex.
pub fn new_assessment_id() -> String {
    format!("a-{}", new_hex_id())
}

/// `m-` + 32 hex.
pub fn new_logged_model_id() -> String {
    format!("m-{}", new_hex_id())
}

/// `d-` + 32 hex.
pub fn new_dataset_id() -> String {
    format!("d-{}", new_hex_id())
}

/// `dr-` + 32 hex.
pub fn new_dataset_record_id() -> String {
    format!("dr-{}", new_hex_id())
}

/// uuid4 with dashes, as MLflow's scorer ids.
pub fn new_scorer_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `tr-` + hex of the OTel trace id bytes.
pub fn trace_id_from_otel(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(3 + bytes.len() * 2);
    out.push_str("tr-");
    out.push_str(&hex::encode(bytes));
    out
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair", "gentle", "glad",
    "grand", "honest", "keen", "kind", "lively", "lucky", "merry", "nimble", "polite", "proud", "quick", "quiet",
    "rare", "sharp", "shy", "smooth", "steady", "swift", "tidy", "vivid", "warm", "wise",
];
const NOUNS: &[&str] = &[
    "ant", "bat", "bear", "bee", "carp", "cat", "crane", "deer", "doe", "dove", "eel", "elk", "fox", "frog", "goat",
    "hare", "hawk", "lark", "lynx", "mole", "moth", "newt", "owl", "ox", "quail", "ram", "seal", "shrew", "slug",
    "snail", "swan", "toad", "wasp", "wolf", "wren", "yak",
];

/// A readable name for a run created without one, like `swift-owl-417`.
pub fn random_run_name() -> String {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    let adjective = ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()];
    let noun = NOUNS[bytes[1] as usize % NOUNS.len()];
    let number = u16::from_le_bytes([bytes[2], bytes[3]]) % 1000;
    format!("{adjective}-{noun}-{number}")
}
