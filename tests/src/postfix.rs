//! A private Postfix instance on loopback, as docs/architecture.md ("Tests and
//! benchmarks") describes: its own
//! configuration, queue and data directories under the temp dir, one smtpd
//! listener per relay policy, `default_transport = discard` so that nothing
//! ever leaves the machine, and its log in a file the test can read.
//!
//! Needs Debian's `postfix` package (scripts/setup test installs it) and root,
//! as `postfix start` does.
//!
//! Listeners may speak TLS ([`Postfix::start_tls`]): STARTTLS offered or
//! required, or TLS from the first byte (`smtpd_tls_wrappermode`), each with
//! a certificate made by the test (see [`crate::certs`]).
//!
//! [`Postfix::builder`] configures an instance piece by piece: each listener
//! with its own master.cf `-o` options, plain smtpd or behind postscreen,
//! extra main.cf lines, and a DNS server of the test's own for everything
//! Postfix looks up (`reject_unknown_*`, `reject_rbl_client`): Postfix then
//! runs in a mount namespace of its own where `/etc/resolv.conf` names that
//! server and nothing else ([`Builder::resolver`]).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::certs::Cert;
use crate::dns::resolving_at;
use crate::net::{free_port, listeners_on, wait_for_banner, wait_for_port};

/// How one listener treats relaying from 127.0.0.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// A correctly closed server: `reject_unauth_destination`, which answers
    /// `554 5.7.1 … Relay access denied`.
    Closed,
    /// Debian's stock setting, `defer_unauth_destination`: the same refusal
    /// but temporary, `454 4.7.1`.
    Deferring,
    /// An open relay: every client is in `mynetworks`.
    Open,
}

impl Policy {
    fn master_options(self) -> &'static str {
        match self {
            Policy::Closed => "-o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination",
            Policy::Deferring => {
                "-o smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,defer_unauth_destination"
            }
            Policy::Open => "-o mynetworks=0.0.0.0/0",
        }
    }
}

/// How one listener speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// No TLS: STARTTLS is not offered.
    Off,
    /// STARTTLS offered, not required (`smtpd_tls_security_level = may`).
    Offered,
    /// STARTTLS required before MAIL (`encrypt`): `530 5.7.0 Must issue a
    /// STARTTLS command first`.
    Required,
    /// TLS from the first byte, as on port 465 (`smtpd_tls_wrappermode = yes`).
    Implicit,
}

/// One listener of [`Postfix::start_tls`]: its relay policy, its TLS and
/// the certificate it presents.
pub struct TlsListener<'a> {
    pub policy: Policy,
    pub tls: Tls,
    pub cert: &'a Cert,
}

/// Stands for the instance's configuration directory in [`Listen::options`]
/// (unknown until it starts).
const CONF: &str = "@CONF@";

/// A listener as master.cf gets it.
struct Listen {
    /// None for a listener of [`Builder`], which gives its options itself.
    policy: Option<Policy>,
    addr: SocketAddr,
    /// Its smtpd's `-o` options; [`CONF`] stands for the configuration directory.
    options: String,
    /// Speaks TLS from the first byte: no plain banner to wait for.
    implicit: bool,
    /// postscreen answers first and hands the client on to the smtpd.
    postscreen: bool,
}

impl Listen {
    fn smtpd(policy: Option<Policy>, addr: SocketAddr, options: String) -> Listen {
        Listen { policy, addr, options, implicit: false, postscreen: false }
    }
}

/// A running Postfix; stopped and removed when dropped.
pub struct Postfix {
    dir: PathBuf,
    listeners: Vec<(Option<Policy>, SocketAddr)>,
}

/// An instance configured piece by piece ([`Postfix::builder`]); nothing
/// runs until [`Builder::start`].
///
/// Every listener starts from the same main.cf as the others' (127.0.0.1 is
/// outside `mynetworks`, whose Debian relay restrictions then answer
/// `454 4.7.1 … Relay access denied`), then its own `-o` options, e.g.
/// `"-o mynetworks=0.0.0.0/0"`. master.cf splits options at white space:
/// write restrictions with commas only, or name a main.cf parameter
/// (`"-o smtpd_relay_restrictions=$my_relay"` with `my_relay = a b, c` in
/// [`Builder::main_cf`]).
#[derive(Default)]
pub struct Builder {
    listens: Vec<Listen>,
    main_cf: Vec<String>,
    resolver: Option<SocketAddr>,
}

impl Builder {
    /// An smtpd listener on a free port of 127.0.0.1 with these `-o`
    /// options (may be empty).
    pub fn smtpd(mut self, options: &str) -> Builder {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        self.listens.push(Listen::smtpd(None, addr, options.to_string()));
        self
    }

    /// A listener on a free port of 127.0.0.1 behind postscreen, whose
    /// smtpd (a `pass` service of its own) gets these `-o` options.
    /// postscreen's pregreet test is on (`postscreen_greet_action =
    /// enforce`, a [`POSTSCREEN_GREET_WAIT`] pause after a `220-` first
    /// line of the banner); main.cf lines may change that.
    pub fn postscreen(mut self, options: &str) -> Builder {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        self.listens.push(Listen { postscreen: true, ..Listen::smtpd(None, addr, options.to_string()) });
        self
    }

    /// A main.cf line, after the fixture's own (a parameter given again
    /// overrides the fixture's).
    pub fn main_cf(mut self, line: &str) -> Builder {
        self.main_cf.push(line.to_string());
        self
    }

    /// Postfix looks every name up at `dns` (a server on port 53 of a
    /// loopback address, such as [`crate::dns::DnsServer::start_on_port_53`]'s):
    /// it starts in a mount namespace of its own where `/etc/resolv.conf` is
    /// a file naming that server only ([`resolving_at`]);
    /// master and every process it starts stay there, and nothing else on
    /// the machine sees it. Names in /etc/hosts (localhost, which 127.0.0.1
    /// is called when smtpd looks its client up) still come from there.
    pub fn resolver(mut self, dns: SocketAddr) -> Builder {
        assert!(dns.ip().is_loopback(), "Postfix fixtures resolve through loopback only, not {dns}");
        assert_eq!(dns.port(), 53, "/etc/resolv.conf names a DNS server without a port: it must listen on 53");
        self.resolver = Some(dns);
        self
    }

    /// Starts the instance and waits for every listener's banner.
    pub fn start(self) -> Postfix {
        let main_cf: Vec<&str> = self.main_cf.iter().map(String::as_str).collect();
        Postfix::start_listening(self.listens, &main_cf, &[], self.resolver)
    }
}

/// postscreen's pregreet pause in [`Builder::postscreen`]
/// (`postscreen_greet_wait`).
pub const POSTSCREEN_GREET_WAIT: Duration = Duration::from_secs(2);

/// The name Postfix gives itself in banners.
pub const HOSTNAME: &str = "mx.relaycheck.test";

impl Postfix {
    /// Starts one instance with a listener for each policy, each on a free
    /// port of 127.0.0.1.
    pub fn start(policies: &[Policy]) -> Postfix {
        let listeners: Vec<(Policy, SocketAddr)> =
            policies.iter().map(|&p| (p, SocketAddr::from(([127, 0, 0, 1], free_port())))).collect();
        Self::start_on(&listeners, &[])
    }

    /// Starts one instance with the given listeners (loopback addresses
    /// only) and extra `main.cf` lines.
    pub fn start_on(listeners: &[(Policy, SocketAddr)], extra_main_cf: &[&str]) -> Postfix {
        let listens: Vec<Listen> = listeners
            .iter()
            .map(|&(policy, addr)| Listen::smtpd(Some(policy), addr, policy.master_options().to_string()))
            .collect();
        Self::start_listening(listens, extra_main_cf, &[], None)
    }

    /// An instance configured piece by piece: see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts one instance with a listener for each of `listeners`, each on
    /// a free port of 127.0.0.1, in that order ([`Postfix::listener`]); each
    /// presents its own certificate (key and chain in one file, as
    /// `smtpd_tls_chain_files` reads them, so that any key type works).
    pub fn start_tls(listeners: &[TlsListener<'_>]) -> Postfix {
        let mut files = Vec::new();
        let listens: Vec<Listen> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let name = format!("tls-{i}.pem");
                files.push((name.clone(), format!("{}{}", l.cert.key_pem, l.cert.chain_pem)));
                let level = match l.tls {
                    Tls::Off => "none",
                    Tls::Offered => "may",
                    Tls::Required | Tls::Implicit => "encrypt",
                };
                // Log level 1: "TLS connection established", for the tests to read.
                let mut options = format!(
                    "{} -o smtpd_tls_security_level={level} -o smtpd_tls_loglevel=1",
                    l.policy.master_options()
                );
                if l.tls != Tls::Off {
                    options.push_str(&format!(" -o smtpd_tls_chain_files={CONF}/{name}"));
                }
                if l.tls == Tls::Implicit {
                    options.push_str(" -o smtpd_tls_wrappermode=yes");
                }
                let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
                Listen { implicit: l.tls == Tls::Implicit, ..Listen::smtpd(Some(l.policy), addr, options) }
            })
            .collect();
        Self::start_listening(listens, &[], &files, None)
    }

    /// The `index`-th listener of [`Postfix::start_tls`] (or of any start, in
    /// the order given).
    pub fn listener(&self, index: usize) -> SocketAddr {
        self.listeners[index].1
    }

    /// Starts one instance; `files` are written into its configuration
    /// directory first (names, contents), readable by root only; with a
    /// `resolver`, see [`Builder::resolver`].
    fn start_listening(
        listens: Vec<Listen>,
        extra_main_cf: &[&str],
        files: &[(String, String)],
        resolver: Option<SocketAddr>,
    ) -> Postfix {
        assert!(listens.iter().all(|l| l.addr.ip().is_loopback()), "Postfix fixtures listen on loopback only");
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "Postfix is not installed: run scripts/setup test (it installs Debian's postfix package)"
        );
        let dir = std::env::temp_dir().join(format!("relaycheck-postfix-{}-{}", std::process::id(), free_port()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["conf", "queue", "data"] {
            fs::create_dir_all(dir.join(sub)).expect("create postfix dirs");
        }
        // The data directory holds master.lock, which Postfix opens as its own user.
        let status = Command::new("chown").arg("postfix").arg(dir.join("data")).status().expect("chown");
        assert!(status.success(), "chown postfix {}/data failed", dir.display());

        let d = dir.display();
        let mut main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {d}/queue\n\
             data_directory = {d}/data\n\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n\
             myhostname = {HOSTNAME}\n\
             mydomain = relaycheck.test\n\
             myorigin = $myhostname\n\
             mydestination = $myhostname, localhost\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             # 127.0.0.1, where the tests connect from, is an outsider here.\n\
             mynetworks = 127.0.0.2/32\n\
             # Nothing leaves this machine, whatever is accepted.\n\
             default_transport = discard\n\
             relay_transport = discard\n\
             local_transport = discard\n\
             smtpd_banner = $myhostname ESMTP Postfix\n\
             smtp_host_lookup = native\n\
             # An open relay accepts recipients and so opens queue files; as\n\
             # nothing is ever delivered here, no flow-control tokens come back\n\
             # and Postfix would wait in_flow_delay (1 s) before each of them.\n\
             # A real server delivers, so the lab does not wait.\n\
             in_flow_delay = 0\n"
        );
        if listens.iter().any(|l| l.postscreen) {
            main_cf.push_str(&format!(
                "# postscreen's pregreet test: a 220- line, a pause, then smtpd's banner.\n\
                 postscreen_greet_action = enforce\n\
                 postscreen_greet_wait = {}s\n",
                POSTSCREEN_GREET_WAIT.as_secs()
            ));
        }
        for (name, contents) in files {
            let path = dir.join("conf").join(name);
            fs::write(&path, contents).expect("write a TLS file");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod a TLS file");
            }
        }
        for line in extra_main_cf {
            main_cf.push_str(line);
            main_cf.push('\n');
        }
        fs::write(dir.join("conf/main.cf"), main_cf).expect("write main.cf");

        // Debian's master.cf has every service Postfix needs; only its public
        // smtpd on port 25 is taken out and ours put in.
        let stock = fs::read_to_string("/etc/postfix/master.cf").expect("read /etc/postfix/master.cf");
        let mut master: String = stock
            .lines()
            .map(|l| if l.starts_with("smtp ") && l.contains(" inet ") { format!("#{l}") } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        master.push('\n');
        // Not chrooted (the chroot column is n): smtpd reads the namespace's
        // /etc/resolv.conf, not a copy in the queue directory.
        for (i, l) in listens.iter().enumerate() {
            let options = l.options.replace(CONF, &format!("{d}/conf"));
            if l.postscreen {
                // Each postscreen hands clients to an smtpd of its own, so
                // that each keeps its own options.
                master.push_str(&format!("{} inet n - n - 1 postscreen -o smtpd_service_name=smtpd-{i}\n", l.addr));
                master.push_str(&format!("smtpd-{i} pass - - n - - smtpd {options}\n"));
            } else {
                master.push_str(&format!("{} inet n - n - - smtpd {options}\n", l.addr));
            }
        }
        if listens.iter().any(|l| l.postscreen) {
            master.push_str("dnsblog unix - - n - 0 dnsblog\ntlsproxy unix - - n - 0 tlsproxy\n");
        }
        let listeners: Vec<(Option<Policy>, SocketAddr)> = listens.iter().map(|l| (l.policy, l.addr)).collect();
        fs::write(dir.join("conf/master.cf"), master).expect("write master.cf");

        let out = match resolver {
            None => Command::new("postfix").arg("-c").arg(dir.join("conf")).arg("start").output(),
            Some(dns) => start_resolving_at(&dir, dns),
        }
        .expect("run postfix");
        let postfix = Postfix { dir, listeners };
        assert!(
            out.status.success(),
            "postfix start failed: {}{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            postfix.log()
        );
        for l in &listens {
            // TLS from the first byte has no plain banner: it is up once it
            // accepts connections.
            let ready = if l.implicit {
                wait_for_port(l.addr, Duration::from_secs(20))
            } else {
                wait_for_banner(l.addr, Duration::from_secs(20)).map(|_| ())
            };
            if let Err(e) = ready {
                panic!("{e}\nlog:\n{}", postfix.log());
            }
            // Postfix binds with SO_REUSEPORT: a second server on this port
            // would not stop it starting, only take some of its connections.
            let sharing = listeners_on(l.addr);
            assert_eq!(sharing, 1, "{} has {sharing} listening sockets, not only this Postfix's", l.addr);
        }
        postfix
    }

    /// The listener with this policy.
    pub fn addr(&self, policy: Policy) -> SocketAddr {
        self.listeners.iter().find(|(p, _)| *p == Some(policy)).map(|(_, a)| *a).expect("no listener with that policy")
    }

    /// Everything Postfix logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }
}

/// `postfix start` in a mount namespace of its own where `/etc/resolv.conf`
/// is `dir/resolv.conf`, naming `dns` alone ([`resolving_at`]; the
/// namespace lives as long as master does).
fn start_resolving_at(dir: &Path, dns: SocketAddr) -> std::io::Result<Output> {
    resolving_at(dns, &dir.join("resolv.conf"), "postfix")?.arg("-c").arg(dir.join("conf")).arg("start").output()
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix").arg("-c").arg(self.dir.join("conf")).arg("stop").output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
