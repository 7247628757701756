//! A private Exim 4 on loopback, run from Debian's packages unpacked (not
//! installed: they conflict with Postfix) under [`EXIM_DIR`] by
//! `scripts/setup test`. Its configuration, spool and logs live in a temp dir;
//! it listens on 127.0.0.1 only, has no transport at all and routes whatever
//! it accepts to `:blackhole:`, so nothing is ever delivered anywhere. It
//! looks nothing up in the DNS, but through a DNS server of the test's own
//! when given one.
//!
//! [`Exim::builder`] adds to a [`Policy`] what a test needs: statements in
//! the RCPT, HELO and connect ACLs, main options, routers, and that DNS
//! server ([`Builder::resolver`]).
//!
//! Needs root: Exim keeps its privileges for `-C` only when root calls it.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dns::resolving_at;
use crate::net::{free_port, wait_for_banner, wait_for_port};
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

/// An instance configured piece by piece ([`Exim::builder`]); nothing runs
/// until [`Builder::start`].
///
/// ACL statements are written as in Exim's configuration, a verb and its
/// conditions, continuation lines and all (`"deny dnslists = rbl.test"`);
/// the RCPT ACL's come before the policy's own statements, so that they are
/// judged first, and the HELO and connect ACLs are the statements given,
/// then `accept`. A main option replaces the fixture's own of the same name
/// (Exim refuses an option set twice). Routers come before the fixture's
/// own, which end every address in `:blackhole:`: one that looks in the DNS
/// wants `verify_only`, so that it decides verification and delivers
/// nothing.
pub struct Builder {
    policy: Policy,
    main: Vec<String>,
    rcpt: Vec<String>,
    helo: Vec<String>,
    connect: Vec<String>,
    routers: Vec<String>,
    resolver: Option<SocketAddr>,
}

impl Builder {
    /// A main option, e.g. `"smtp_accept_max_per_host = 2"`.
    pub fn main(self, line: &str) -> Builder {
        self.push(|b| &mut b.main, line)
    }

    /// A statement of the RCPT ACL, before the policy's.
    pub fn rcpt_acl(self, statement: &str) -> Builder {
        self.push(|b| &mut b.rcpt, statement)
    }

    /// A statement of the HELO/EHLO ACL (`acl_smtp_helo`).
    pub fn helo_acl(self, statement: &str) -> Builder {
        self.push(|b| &mut b.helo, statement)
    }

    /// A statement of the connect ACL (`acl_smtp_connect`), judged before
    /// the banner.
    pub fn connect_acl(self, statement: &str) -> Builder {
        self.push(|b| &mut b.connect, statement)
    }

    /// A router, its name line and its options, before the fixture's own.
    pub fn router(self, router: &str) -> Builder {
        self.push(|b| &mut b.routers, router)
    }

    fn push(mut self, list: impl FnOnce(&mut Builder) -> &mut Vec<String>, text: &str) -> Builder {
        list(&mut self).push(text.to_string());
        self
    }

    /// Exim looks every name up at `dns` (port 53 of a loopback address,
    /// such as [`crate::dns::DnsServer::start_on_port_53`]'s): the daemon
    /// starts in a mount namespace of its own where `/etc/resolv.conf`
    /// names that server only ([`crate::dns::resolving_at`]), which Exim's
    /// resolver library reads for `dnslists`, `verify = helo`, a
    /// `dnslookup` router and the rest. Without one the fixture looks
    /// nothing up; give one to any configuration that would.
    pub fn resolver(mut self, dns: SocketAddr) -> Builder {
        self.resolver = Some(dns);
        self
    }

    /// Starts the daemon on a free port of 127.0.0.1 and waits for its
    /// banner (with a connect ACL, which may refuse with it, only until it
    /// listens).
    pub fn start(self) -> Exim {
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
        let conf = dir.join("exim.conf");
        fs::write(&conf, self.config(&binary, &dir, port)).expect("write exim.conf");
        let out = fs::File::create(dir.join("exim.out")).expect("create exim.out");
        let err = out.try_clone().expect("clone exim.out");
        let mut command = match self.resolver {
            None => Command::new(&binary),
            Some(dns) => resolving_at(dns, &dir.join("resolv.conf"), &binary).expect("write resolv.conf"),
        };
        // -bd forks the daemon into the background; this returns when it has.
        let status = command
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
        let exim = Exim { dir, addr, policy: self.policy };
        assert!(
            status.success(),
            "exim4 -bd failed ({status}): {}\nlog:\n{}\npanic log:\n{}",
            exim.output(),
            exim.log(),
            exim.panic_log()
        );
        let ready = if self.connect.is_empty() {
            wait_for_banner(addr, Duration::from_secs(20)).map(|_| ())
        } else {
            wait_for_port(addr, Duration::from_secs(20))
        };
        if let Err(e) = ready {
            panic!("{e}\noutput: {}\nlog:\n{}\npanic log:\n{}", exim.output(), exim.log(), exim.panic_log());
        }
        exim
    }

    /// The whole configuration file.
    fn config(&self, binary: &Path, dir: &Path, port: u16) -> String {
        let policy = self.policy;
        let (d, bin) = (dir.display(), binary.display());
        let fixture_main = format!(
            r"exim_path = {bin}
exim_user = root
exim_group = root
keep_environment = LD_LIBRARY_PATH
primary_hostname = {HOSTNAME}
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
log_selector = +smtp_connection +smtp_protocol_error +smtp_syntax_error +incoming_port
# No reverse lookups of clients, no ident callbacks, no TLS.
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

acl_smtp_rcpt = acl_check_rcpt"
        );
        let mut main = self.main.clone();
        let mut acls = String::new();
        for (option, name, statements) in
            [("acl_smtp_helo", "acl_check_helo", &self.helo), ("acl_smtp_connect", "acl_check_connect", &self.connect)]
        {
            if !statements.is_empty() {
                main.push(format!("{option} = {name}"));
                acls.push_str(&format!("{name}:\n{}  accept\n\n", indented(statements)));
            }
        }
        // A line of the fixture's own gives way to one of the test's that
        // sets the same option.
        let given: Vec<&str> = main.iter().map(|l| option_set_by(l)).collect();
        let fixture_main: Vec<&str> = fixture_main.lines().filter(|l| !given.contains(&option_set_by(l))).collect();
        let rcpt = policy.acl().replacen("acl_check_rcpt:\n", &format!("acl_check_rcpt:\n{}", indented(&self.rcpt)), 1);
        format!(
            "# relaycheck test fixture ({policy:?}); see tests/src/exim.rs.\n{}\n{}\n\nbegin acl\n\n{acls}{rcpt}\n\
             begin routers\n\n{}\
             # There is no transport at all: every address ends in :blackhole:.\n\
             outside:\n  driver = redirect\n  domains = ! +local_domains\n  data = :blackhole:\n\n{}",
            fixture_main.join("\n"),
            main.join("\n"),
            self.routers.iter().map(|r| format!("{}\n\n", r.trim_end())).collect::<String>(),
            policy.local_router(),
        )
    }
}

/// The option a main section line sets: `queue_only` of `queue_only =
/// true`, `hostlist relay_from_hosts` of `hostlist relay_from_hosts = *`.
fn option_set_by(line: &str) -> &str {
    line.split('=').next().unwrap_or(line).trim()
}

/// Statements as an ACL's body: each line indented.
fn indented(statements: &[String]) -> String {
    statements.iter().flat_map(|s| s.lines()).map(|l| format!("  {l}\n")).collect()
}

impl Exim {
    /// Starts a daemon with this policy on a free port of 127.0.0.1 and
    /// waits for its banner.
    pub fn start(policy: Policy) -> Exim {
        Exim::builder(policy).start()
    }

    /// An instance with this policy, configured piece by piece: see
    /// [`Builder`].
    pub fn builder(policy: Policy) -> Builder {
        Builder {
            policy,
            main: Vec::new(),
            rcpt: Vec::new(),
            helo: Vec::new(),
            connect: Vec::new(),
            routers: Vec::new(),
            resolver: None,
        }
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
