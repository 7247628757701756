//! A private OpenSMTPD on loopback, run from Debian's package unpacked (not
//! installed: it conflicts with Postfix) under [`OPENSMTPD_DIR`] by
//! `scripts/setup test`. It runs in the foreground (`smtpd -d`) as a child of
//! the test and listens on 127.0.0.1 only. Local mail goes to an mda that
//! discards it; the relay action may only ever hand mail to 127.0.0.1 port 9
//! (discard), where nothing listens. We never send DATA anyway.
//!
//! smtpd looks up every client's name (PTR, then forward-confirmed) with its
//! own resolver, which reads /etc/resolv.conf and asks the DNS before
//! /etc/hosts. So that nothing leaves loopback, it runs in a mount namespace
//! of its own (util-linux `unshare`) where /etc/resolv.conf is a file that
//! says `lookup file`: names come from /etc/hosts only.
//!
//! OpenSMTPD has a fixed control socket and spool, so one instance runs at a
//! time on a machine: [`OpenSmtpd::start`] holds a lock on [`LOCK_FILE`] for
//! the fixture's life, and parallel tests (threads or nextest's processes)
//! wait their turn. Needs root, as smtpd does.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::net::{free_port, wait_for_banner};
pub use crate::postfix::HOSTNAME;

/// Where `scripts/setup test` unpacks Debian's opensmtpd.
pub const OPENSMTPD_DIR: &str = "/opt/relaycheck-mtas/opensmtpd";

/// Held (flock) while an instance runs.
pub const LOCK_FILE: &str = "/tmp/relaycheck-opensmtpd.lock";

/// How the instance treats mail from 127.0.0.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Takes mail for its local users at [`HOSTNAME`] and `localhost` from
    /// anyone; relays only for 127.0.0.2, so 127.0.0.1 is an outsider.
    /// (Loopback clients count as `from local` in OpenSMTPD, which Debian's
    /// stock rule `match for any action "relay"` lets relay.)
    Closed,
    /// Relays for every client.
    Open,
}

impl Policy {
    fn relay_rule(self) -> &'static str {
        match self {
            Policy::Closed => r#"match from src 127.0.0.2 for any action "outside""#,
            Policy::Open => r#"match from any for any action "outside""#,
        }
    }
}

/// A running smtpd; stopped, its directory removed and the machine-wide lock
/// released when dropped.
pub struct OpenSmtpd {
    dir: PathBuf,
    child: Child,
    pub addr: SocketAddr,
    pub policy: Policy,
    // Released last, once smtpd and its control socket are gone.
    _lock: File,
}

impl OpenSmtpd {
    /// Waits for any other instance on this machine to end, then starts one
    /// with this policy on a free port of 127.0.0.1 and waits for its banner.
    pub fn start(policy: Policy) -> OpenSmtpd {
        let binary = Path::new(OPENSMTPD_DIR).join("usr/sbin/smtpd");
        assert!(
            binary.exists(),
            "OpenSMTPD is not unpacked at {OPENSMTPD_DIR}: run scripts/setup test (it unpacks Debian's opensmtpd there)"
        );
        let lock = File::options().create(true).append(true).open(LOCK_FILE).expect("open the OpenSMTPD lock file");
        // SAFETY: flock(2) on a descriptor we own; blocks until the lock is ours.
        let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "flock {LOCK_FILE}: {}", std::io::Error::last_os_error());

        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("relaycheck-opensmtpd-{}-{port}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create opensmtpd dir");
        let d = dir.display();
        fs::write(dir.join("aliases"), "postmaster: root\nabuse: root\n").expect("write aliases");
        fs::write(dir.join("resolv.conf"), "lookup file\n").expect("write resolv.conf");
        let relay_rule = policy.relay_rule();
        let config = format!(
            r#"# relaycheck test fixture ({policy:?}); see tests/src/opensmtpd.rs.
table aliases file:{d}/aliases
table localdomains {{ "{HOSTNAME}", "localhost" }}

listen on 127.0.0.1 port {port} hostname {HOSTNAME}

# Local mail is read and thrown away.
action "local" mda "cat >/dev/null" alias <aliases>
# Relayed mail could only go to 127.0.0.1 port 9 (discard), where nothing listens.
action "outside" relay host smtp://127.0.0.1:9

# Mail for local users from anyone: its own name, and what smtpd counts as
# local (localhost, [127.0.0.1]).
match from any for local action "local"
match from any for domain <localdomains> action "local"
{relay_rule}
"#
        );
        let conf = dir.join("smtpd.conf");
        fs::write(&conf, config).expect("write smtpd.conf");
        let log = File::create(dir.join("smtpd.log")).expect("create smtpd.log");
        let log2 = log.try_clone().expect("clone smtpd.log");
        // unshare and sh exec in turn: the child's pid is smtpd's.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/resolv.conf && exec "$@""#)
            .arg(dir.join("resolv.conf"))
            .arg(&binary)
            .arg("-d")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: smtpd forks a process per role.
            .process_group(0)
            .spawn()
            .expect("run smtpd");
        let mut smtpd = OpenSmtpd { dir, child, addr, policy, _lock: lock };
        if let Err(e) = wait_for_banner(addr, Duration::from_secs(20)) {
            let exited = smtpd.child.try_wait().ok().flatten();
            panic!("{e} (smtpd exit status: {exited:?})\nlog:\n{}", smtpd.log());
        }
        smtpd
    }

    /// Everything smtpd wrote to its standard error (its log under `-d`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("smtpd.log")).unwrap_or_default()
    }
}

impl Drop for OpenSmtpd {
    fn drop(&mut self) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group that spawn created for smtpd.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group (SAFETY: as above).
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
