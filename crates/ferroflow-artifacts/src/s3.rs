//! S3-compatible buckets as artifact stores: `s3://bucket/prefix` locations, set up from the
//! same environment variables as MLflow's S3 artifact repository.
//!
//! - `MLFLOW_S3_ENDPOINT_URL`: an S3-compatible server instead of AWS (`http://` allowed).
//! - `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: credentials (without
//!   them, the usual AWS providers: web identity, container and instance metadata).
//! - `AWS_DEFAULT_REGION` (or `AWS_REGION`): the region, `us-east-1` when unset.
//! - `MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`: `path`, `virtual` or `auto` (the default). Auto
//!   sends path-style requests (`endpoint/bucket/key`) to an endpoint given as an IP address or
//!   `localhost`, as S3 emulators expect, and virtual-hosted ones (`bucket.endpoint/key`) to
//!   any other custom endpoint, as the reference's S3 client does.
//! - `MLFLOW_S3_IGNORE_TLS`: accept any TLS certificate from the endpoint.

use ferroflow_core::{Error, Result};
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use std::net::IpAddr;
use std::sync::Arc;

/// How requests name the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AddressingStyle {
    /// Path-style for IP-address and `localhost` endpoints, virtual-hosted for other hosts.
    #[default]
    Auto,
    Path,
    Virtual,
}

/// What a connection to an S3-compatible store needs besides the bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub addressing_style: AddressingStyle,
    pub ignore_tls: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

impl S3Settings {
    /// The settings MLflow's variables give (module docs).
    pub fn from_env() -> Result<Self> {
        let addressing_style = match env("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE").as_deref() {
            None | Some("auto") => AddressingStyle::Auto,
            Some("path") => AddressingStyle::Path,
            Some("virtual") => AddressingStyle::Virtual,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE is '{other}': use path, virtual or auto"
                )))
            }
        };
        Ok(S3Settings {
            endpoint: env("MLFLOW_S3_ENDPOINT_URL"),
            region: env("AWS_DEFAULT_REGION").or_else(|| env("AWS_REGION")),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            addressing_style,
            ignore_tls: matches!(env("MLFLOW_S3_IGNORE_TLS").as_deref(), Some("true" | "1" | "True" | "TRUE")),
        })
    }

    /// The store of an `s3://bucket[/prefix]` location, its keys relative to the prefix.
    pub fn open(&self, location: &str) -> Result<Arc<dyn ObjectStore>> {
        let (bucket, prefix) = split_location(location)?;
        // The builder also reads the other AWS_* settings (credential providers, proxies);
        // what MLflow's variables say comes on top.
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder.with_access_key_id(key).with_secret_access_key(secret);
            if let Some(token) = &self.session_token {
                builder = builder.with_token(token);
            }
        }
        if let Some(endpoint) = &self.endpoint {
            let endpoint = endpoint.trim_end_matches('/');
            let (scheme, authority) = endpoint.split_once("://").ok_or_else(|| {
                Error::invalid(format!("MLFLOW_S3_ENDPOINT_URL '{endpoint}' is not a URL (http://host:port)"))
            })?;
            let path_style = match self.addressing_style {
                AddressingStyle::Path => true,
                AddressingStyle::Virtual => false,
                AddressingStyle::Auto => is_local_or_ip(authority),
            };
            builder = builder.with_allow_http(scheme == "http");
            builder = if path_style {
                builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false)
            } else {
                builder
                    .with_endpoint(format!("{scheme}://{bucket}.{authority}"))
                    .with_virtual_hosted_style_request(true)
            };
        } else if self.addressing_style == AddressingStyle::Virtual {
            builder = builder.with_virtual_hosted_style_request(true);
        }
        if self.ignore_tls {
            builder =
                builder.with_client_options(object_store::ClientOptions::new().with_allow_invalid_certificates(true));
        }
        let store =
            builder.build().map_err(|e| Error::invalid(format!("cannot use the S3 location '{location}': {e}")))?;
        Ok(if prefix.is_empty() { Arc::new(store) } else { Arc::new(PrefixStore::new(store, prefix)) })
    }
}

/// `s3://bucket/some/prefix/` → (`bucket`, `some/prefix`).
fn split_location(location: &str) -> Result<(&str, &str)> {
    let rest = location
        .strip_prefix("s3://")
        .ok_or_else(|| Error::invalid(format!("'{location}' is not an s3:// location")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::invalid(format!("the S3 location '{location}' names no bucket")));
    }
    Ok((bucket, prefix.trim_matches('/')))
}

/// Whether an endpoint's `host[:port][/path]` is an IP address or `localhost`.
fn is_local_or_ip(authority: &str) -> bool {
    let host_port = authority.split('/').next().unwrap_or(authority);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or(bracketed)
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(host, _port)| host)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_into_bucket_and_prefix() {
        assert_eq!(split_location("s3://b").unwrap(), ("b", ""));
        assert_eq!(split_location("s3://b/").unwrap(), ("b", ""));
        assert_eq!(split_location("s3://b/a/c/").unwrap(), ("b", "a/c"));
        assert!(split_location("s3:///x").is_err());
        assert!(split_location("gs://b").is_err());
    }

    #[test]
    fn ip_and_localhost_endpoints_are_path_style() {
        assert!(is_local_or_ip("127.0.0.1:9000"));
        assert!(is_local_or_ip("10.1.2.3"));
        assert!(is_local_or_ip("[::1]:9000"));
        assert!(is_local_or_ip("localhost:9000/"));
        assert!(!is_local_or_ip("minio.internal:9000"));
        assert!(!is_local_or_ip("s3.example.com"));
    }
}
