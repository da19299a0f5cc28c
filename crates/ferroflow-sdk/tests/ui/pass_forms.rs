//! Every accepted form of `#[trace]`.
use ferroflow_sdk::trace;

struct NotSerializable;

#[trace]
fn plain(x: i32) -> i32 { x }

#[trace(name = "custom name", span_type = "AGENT", skip(secret), rename(q = "question"))]
fn full(q: &str, secret: &str, _opaque: NotSerializable) -> Result<String, std::io::Error> {
    let _ = secret;
    Ok(q.to_string())
}

#[trace(span_type = custom("MY_TYPE"), skip_all, skip_output)]
fn custom(_a: u8) -> Vec<u8> { vec![] }

#[trace(span_type = "LLM")]
async fn asynchronous(messages: Vec<String>) -> usize { messages.len() }

#[trace]
fn returns_impl(n: u32) -> impl Iterator<Item = u32> { 0..n }

#[trace]
fn returns_ref(v: &Vec<u8>) -> &u8 { &v[0] }

struct Agent;
impl Agent {
    #[trace(span_type = "AGENT")]
    fn method(&self, x: u8) -> u8 { x }
    #[trace]
    async fn async_method(&mut self, x: u8) -> u8 { x }
}

#[trace]
fn generic<T: serde::Serialize + Clone>(value: T) -> T { value.clone() }

fn main() {
    let _ = plain(1);
    let _ = full("q", "s", NotSerializable);
    let _ = custom(1);
    let _ = asynchronous(vec![]);
    let _ = returns_impl(3).count();
    let _ = returns_ref(&vec![1]);
    let _ = Agent.method(1);
    let _ = Agent.async_method(1);
    let _ = generic(1u8);
}
