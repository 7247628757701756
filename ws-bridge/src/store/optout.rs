//! The owners' opt-out list: domains (with every name under them) and
//! address blocks that the bridge never connects to, and
//! `ws-bridge optout add|remove|list`, which manages it in Redis (a fleet)
//! or in a file (one bridge's `serve --optout-file`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, Subcommand};

use crate::serve::policy::Cidr;
use crate::store::{Store, StoreError};

/// One entry: a domain, or an address block (a lone address is its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Domain,
    Range,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OptOut {
    kind: Kind,
    /// The domain in lower case without a final dot, or the block as
    /// `ADDR/LEN`.
    text: String,
}

impl OptOut {
    /// Whether a connection to `host` at `ips` would reach what this entry
    /// protects: the domain itself or a name under it, or an address in
    /// the block.
    pub fn matches(&self, host: &str, ips: &[IpAddr]) -> bool {
        match self.kind {
            Kind::Domain => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                host == self.text || host.strip_suffix(&self.text).is_some_and(|rest| rest.ends_with('.'))
            }
            Kind::Range => {
                let cidr: Cidr = self.text.parse().expect("an opt-out range is kept parsed");
                ips.iter().any(|&ip| cidr.contains(ip)) || host.parse::<IpAddr>().is_ok_and(|ip| cidr.contains(ip))
            }
        }
    }
}

impl FromStr for OptOut {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let looks_like_address = input.contains(':') || input.contains('/') || input.parse::<IpAddr>().is_ok();
        if looks_like_address {
            let cidr: Cidr = input.parse()?;
            // Kept as its network, so that one block has one spelling.
            let canonical = canonical(cidr);
            return Ok(OptOut { kind: Kind::Range, text: canonical.to_string() });
        }
        let domain = input.trim_end_matches('.').to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(format!("\"{input}\" is neither a domain nor an address block such as 192.0.2.0/24"));
        }
        Ok(OptOut { kind: Kind::Domain, text: domain })
    }
}

fn canonical(cidr: Cidr) -> Cidr {
    let net = match cidr.net {
        IpAddr::V4(v4) => {
            let mask = if cidr.len == 0 { 0 } else { u32::MAX << (32 - u32::from(cidr.len)) };
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = if cidr.len == 0 { 0 } else { u128::MAX << (128 - u32::from(cidr.len)) };
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    };
    Cidr { net, len: cidr.len }
}

impl fmt::Display for OptOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The first entry of `list` that protects `host` at `ips`.
pub fn find<'a>(list: &'a [OptOut], host: &str, ips: &[IpAddr]) -> Option<&'a OptOut> {
    list.iter().find(|entry| entry.matches(host, ips))
}

/// An opt-out file: one entry a line; blank lines and `#` comments are
/// skipped. A missing file is an empty list.
pub fn read_file(path: &Path) -> Result<Vec<OptOut>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(path, e.to_string())),
    };
    let mut list = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        list.push(line.parse().map_err(|e| file_error(path, format!("line {}: {e}", n + 1)))?);
    }
    list.sort();
    list.dedup();
    Ok(list)
}

fn write_file(path: &Path, list: &[OptOut]) -> Result<(), StoreError> {
    let mut text =
        String::from("# relaycheck opt-out list: domains and address blocks never tested (ws-bridge optout)\n");
    for entry in list {
        text.push_str(&entry.to_string());
        text.push('\n');
    }
    // Written aside and renamed, so that a bridge reading it never sees half.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| file_error(path, e.to_string()))
}

fn file_error(path: &Path, detail: String) -> StoreError {
    StoreError::File { path: path.display().to_string(), detail }
}

/// `ws-bridge optout …`.
#[derive(Args, Debug)]
pub struct OptoutArgs {
    #[command(subcommand)]
    pub action: Action,
    /// The fleet's Redis, as its bridges' `serve --redis` names it.
    #[arg(long, value_name = "URL", global = true, conflicts_with = "file")]
    pub redis: Option<String>,
    /// A single bridge's list, as its `serve --optout-file` names it.
    #[arg(long, value_name = "PATH", global = true)]
    pub file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Never test this domain (and every name under it) or address block again.
    Add { entry: String },
    /// Take an entry off the list.
    Remove { entry: String },
    /// Print the list, one entry a line.
    List,
}

/// Why `ws-bridge optout` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum OptoutError {
    /// The command line names no list or no valid entry.
    #[error("{0}")]
    Usage(String),
    /// The list could not be read or changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `ws-bridge optout`: what it prints, or why not.
pub async fn run(args: OptoutArgs) -> Result<String, OptoutError> {
    let entry = |text: &str| text.parse::<OptOut>().map_err(OptoutError::Usage);
    if let Some(path) = &args.file {
        let mut list = read_file(path)?;
        return match args.action {
            Action::List => Ok(listing(&list)),
            Action::Add { entry: text } => {
                let e = entry(&text)?;
                let added = !list.contains(&e);
                list.push(e.clone());
                list.sort();
                list.dedup();
                write_file(path, &list)?;
                Ok(said(added, &e, "added to", "already on"))
            }
            Action::Remove { entry: text } => {
                let e = entry(&text)?;
                let before = list.len();
                list.retain(|x| x != &e);
                write_file(path, &list)?;
                Ok(said(list.len() < before, &e, "removed from", "was not on"))
            }
        };
    }
    let Some(url) = &args.redis else {
        let why = "name the list: --redis redis://HOST:PORT for a fleet, or --file PATH for one bridge";
        return Err(OptoutError::Usage(why.into()));
    };
    let store = crate::store::redis::RedisStore::connect(url, 1)?;
    Ok(match args.action {
        Action::List => listing(&store.optout_list().await?),
        Action::Add { entry: text } => {
            let e = entry(&text)?;
            said(store.optout_add(&e).await?, &e, "added to", "already on")
        }
        Action::Remove { entry: text } => {
            let e = entry(&text)?;
            said(store.optout_remove(&e).await?, &e, "removed from", "was not on")
        }
    })
}

fn listing(list: &[OptOut]) -> String {
    list.iter().map(|e| format!("{e}\n")).collect()
}

fn said(done: bool, entry: &OptOut, yes: &str, no: &str) -> String {
    format!("{entry} {} the opt-out list\n", if done { yes } else { no })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_are_domains_or_address_blocks() {
        let domain: OptOut = "Example.ORG.".parse().unwrap();
        assert_eq!(domain.to_string(), "example.org");
        assert!(domain.matches("example.org", &[]));
        assert!(domain.matches("MX1.example.org.", &[]));
        assert!(!domain.matches("badexample.org", &[]), "a suffix of a label is not a name under the domain");
        assert!(!domain.matches("example.org.evil.example", &[]));

        let block: OptOut = "192.0.2.77/24".parse().unwrap();
        assert_eq!(block.to_string(), "192.0.2.0/24", "kept as its network");
        assert!(block.matches("mx.example.net", &[ip("198.51.100.1"), ip("192.0.2.200")]));
        assert!(block.matches("192.0.2.9", &[]));
        assert!(block.matches("mx", &[ip("::ffff:192.0.2.5")]));
        assert!(!block.matches("mx", &[ip("192.0.3.1")]));

        let v6: OptOut = "2001:db8::1".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::1/128");
        assert!(v6.matches("mx", &[ip("2001:db8::1")]));
        assert!(!v6.matches("mx", &[ip("2001:db8::2")]));

        for bad in ["", "exa mple.org", "192.0.2.0/33", "a..b"] {
            assert!(bad.parse::<OptOut>().is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_file_is_managed_by_the_command() {
        let dir = std::env::temp_dir().join(format!("relaycheck-optout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("optout.txt");
        let _ = std::fs::remove_file(&path);
        let run_with = |action: Action| run(OptoutArgs { action, redis: None, file: Some(path.clone()) });
        assert_eq!(run_with(Action::List).await.unwrap(), "");
        let said = run_with(Action::Add { entry: "Example.org".into() }).await.unwrap();
        assert!(said.contains("example.org added"), "{said}");
        run_with(Action::Add { entry: "192.0.2.0/24".into() }).await.unwrap();
        let said = run_with(Action::Add { entry: "example.org".into() }).await.unwrap();
        assert!(said.contains("already on"), "{said}");
        assert_eq!(run_with(Action::List).await.unwrap(), "example.org\n192.0.2.0/24\n");
        run_with(Action::Remove { entry: "example.org".into() }).await.unwrap();
        assert_eq!(read_file(&path).unwrap(), vec!["192.0.2.0/24".parse::<OptOut>().unwrap()]);
        assert!(run_with(Action::Add { entry: "not a domain".into() }).await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
