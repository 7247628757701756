//! What the server said about each sender, learned from every probe's MAIL
//! FROM. A recipient probe whose sender was refused goes on with one the
//! server took; a sender known to be refused is not sent again.

use crate::reply::Reply;

#[derive(Clone, Debug)]
pub(crate) enum SenderStatus {
    Accepted,
    Refused(Reply),
}

/// Which sender a probe whose own sender was refused goes on with.
pub(crate) enum Fallback {
    Use(String),
    /// A candidate's MAIL is still unanswered.
    Wait,
    /// Every candidate was refused.
    Nothing,
}

#[derive(Default)]
pub(crate) struct Senders {
    known: Vec<(String, SenderStatus)>,
}

impl Senders {
    pub fn learn(&mut self, sender: &str, reply: &Reply) {
        let status = if reply.is_positive() { SenderStatus::Accepted } else { SenderStatus::Refused(reply.clone()) };
        match self.known.iter_mut().find(|(s, _)| s == sender) {
            // Once accepted, a sender is usable, whatever a later try said.
            Some((_, SenderStatus::Accepted)) => {}
            Some((_, known)) => *known = status,
            None => self.known.push((sender.to_string(), status)),
        }
    }

    /// The server refused `sender` after it had taken it: Postfix checks
    /// the sender only at RCPT (`smtpd_delay_reject`), so a `250` to MAIL
    /// may be followed by "Sender address rejected" to every recipient.
    pub fn refuse(&mut self, sender: &str, reply: &Reply) {
        let refused = SenderStatus::Refused(reply.clone());
        match self.known.iter_mut().find(|(s, _)| s == sender) {
            Some((_, known)) => *known = refused,
            None => self.known.push((sender.to_string(), refused)),
        }
    }

    pub fn status(&self, sender: &str) -> Option<&SenderStatus> {
        self.known.iter().find(|(s, _)| s == sender).map(|(_, status)| status)
    }

    /// The first of `candidates` (in order) not in `refused` that the server
    /// took; one never asked is tried, one still being asked is waited for.
    pub fn fallback(
        &self,
        candidates: impl IntoIterator<Item = String>,
        refused: &[String],
        being_asked: impl Fn(&str) -> bool,
    ) -> Fallback {
        for candidate in candidates {
            if refused.contains(&candidate) {
                continue;
            }
            match self.status(&candidate) {
                Some(SenderStatus::Accepted) => return Fallback::Use(candidate),
                Some(SenderStatus::Refused(_)) => continue,
                None if being_asked(&candidate) => return Fallback::Wait,
                None => return Fallback::Use(candidate),
            }
        }
        Fallback::Nothing
    }
}
