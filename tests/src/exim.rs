//! A private Exim 4 on loopback, run from Debian's packages unpacked (not
//! installed: they conflict with Postfix) under [`EXIM_DIR`] by
//! `scripts/setup test`. Its configuration, spool and logs live in a temp dir;
//! it listens on 127.0.0.1 only, looks nothing up in the DNS, has no transport
//! at all and routes whatever it accepts to `:blackhole:`, so nothing is ever
//! delivered anywhere.
//!
//! Needs root: Exim keeps its privileges for `-C` only when root calls it.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::net::{free_port, wait_for_banner};
pub use crate::postfix::HOSTNAME;

/// Where `scripts/setup test` unpacks exim4-daemon-light, exim4-base and
/// libidn12.
pub const EXIM_DIR: &str = "/opt/relaycheck-mtas/exim";

/// How the instance treats mail from 127.0.0.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Debian's default configuration, as its `acl_check_rcpt` behaves:
    /// local domains are [`HOSTNAME`] and `localhost`; 127.0.0.1 is not in
    /// `relay_from_hosts`, so outside recipients get `550 relay not
    /// permitted`; local parts with `@ % ! / |` and kin are refused
    /// (`550 restricted characters in address`); `postmaster` is accepted;
    /// other local parts must pass `verify = recipient`, and only
    /// `postmaster`, `abuse` and `root` exist (`550 Unrouteable address`).
    /// Exim's own defaults stay: no domain literals, no unqualified senders
    /// or recipients, PIPELINING advertised, `smtp_max_synprot_errors = 3`
    /// and `smtp_accept_max_nonmail = 10` (tests/tests/mtas.rs shows what
    /// counts toward each).
    Closed,
    /// An open relay: every recipient from every client is accepted.
    Open,
    /// Closed to relaying, but every local part at a local domain is
    /// accepted (no recipient verification, no restricted-character
    /// check): a server that would bounce later (backscatter), where a 250
    /// for `user%outside@` its own name proves nothing.
    CatchAll,
}

impl Policy {
    fn acl(self) -> &'static str {
        match self {
            Policy::Closed => {
                r"acl_check_rcpt:
  accept  hosts = :
  deny    message = restricted characters in address
          domains = +local_domains
          local_parts = ^[.] : ^.*[@%!/|`#&?]
  deny    message = restricted characters in address
          domains = !+local_domains
          local_parts = ^[./|] : ^.*[@%!`#&?] : ^.*/\\.\\./
  accept  local_parts = postmaster
          domains = +local_domains
  accept  hosts = +relay_from_hosts
  require message = relay not permitted
          domains = +local_domains
  require verify = recipient
  accept
"
            }
            Policy::Open => "acl_check_rcpt:\n  accept\n",
            Policy::CatchAll => {
                r"acl_check_rcpt:
  accept  hosts = :
  accept  hosts = +relay_from_hosts
  require message = relay not permitted
          domains = +local_domains
  accept
"
            }
        }
    }

    fn local_router(self) -> &'static str {
        match self {
            // Only real local users exist.
            Policy::Closed | Policy::Open => {
                "local_users:\n  driver = redirect\n  domains = +local_domains\n  \
                 local_parts = postmaster : abuse : root\n  data = :blackhole:\n"
            }
            // Every local part exists.
            Policy::CatchAll => "local_any:\n  driver = redirect\n  domains = +local_domains\n  data = :blackhole:\n",
        }
    }
}

/// A running Exim daemon; killed and its directory removed when dropped.
pub struct Exim {
    dir: PathBuf,
    pub addr: SocketAddr,
    pub policy: Policy,
}

impl Exim {
    /// Starts a daemon with this policy on a free port of 127.0.0.1 and
    /// waits for its banner.
    pub fn start(policy: Policy) -> Exim {
        let binary = Path::new(EXIM_DIR).join("usr/sbin/exim4");
        assert!(
            binary.exists(),
            "Exim is not unpacked at {EXIM_DIR}: run scripts/setup test (it unpacks Debian's exim4-daemon-light there)"
        );
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("relaycheck-exim-{}-{port}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["spool", "log"] {
            fs::create_dir_all(dir.join(sub)).expect("create exim dirs");
        }
        let d = dir.display();
        let bin = binary.display();
        let acl = policy.acl();
        let local_router = policy.local_router();
        let config = format!(
            r"# relaycheck test fixture ({policy:?}); see tests/src/exim.rs.
exim_path = {bin}
exim_user = root
exim_group = root
keep_environment = LD_LIBRARY_PATH
primary_hostname = {HOSTNAME}
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
log_selector = +smtp_connection +smtp_protocol_error +smtp_syntax_error +incoming_port
# Nothing in the DNS, no ident callbacks, no TLS.
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts =
# Whatever is accepted stays in the spool: no queue runner is ever started.
queue_only = true

domainlist local_domains = @ : localhost
domainlist relay_to_domains =
# 127.0.0.1, where the tests connect from, is an outsider here.
hostlist relay_from_hosts = 127.0.0.2

acl_smtp_rcpt = acl_check_rcpt

begin acl

{acl}
begin routers

# There is no transport at all: every address ends in :blackhole:.
outside:
  driver = redirect
  domains = ! +local_domains
  data = :blackhole:

{local_router}"
        );
        let conf = dir.join("exim.conf");
        fs::write(&conf, config).expect("write exim.conf");
        let out = fs::File::create(dir.join("exim.out")).expect("create exim.out");
        let err = out.try_clone().expect("clone exim.out");
        // -bd forks the daemon into the background; this returns when it has.
        let status = Command::new(&binary)
            .env("LD_LIBRARY_PATH", Path::new(EXIM_DIR).join("usr/lib/x86_64-linux-gnu"))
            .arg("-C")
            .arg(&conf)
            .arg("-bd")
            .arg("-oP")
            .arg(dir.join("exim.pid"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .expect("run exim4");
        let exim = Exim { dir, addr, policy };
        assert!(status.success(), "exim4 -bd failed ({status}): {}\nlog:\n{}", exim.output(), exim.log());
        if let Err(e) = wait_for_banner(addr, Duration::from_secs(20)) {
            panic!("{e}\noutput: {}\nlog:\n{}\npanic log:\n{}", exim.output(), exim.log(), exim.panic_log());
        }
        exim
    }

    /// Everything Exim wrote to its main log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log/mainlog")).unwrap_or_default()
    }

    /// Exim's panic log (configuration errors end up here).
    pub fn panic_log(&self) -> String {
        fs::read_to_string(self.dir.join("log/paniclog")).unwrap_or_default()
    }

    fn output(&self) -> String {
        fs::read_to_string(self.dir.join("exim.out")).unwrap_or_default()
    }

    fn pid(&self) -> Option<libc::pid_t> {
        fs::read_to_string(self.dir.join("exim.pid")).ok()?.trim().parse().ok()
    }
}

impl Drop for Exim {
    fn drop(&mut self) {
        if let Some(pid) = self.pid().filter(|&p| p > 1) {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether a process exists and is not a zombie (the daemon is not our
/// child, so whoever reaps it may take its time).
fn alive(pid: libc::pid_t) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}
