//! One component per file. Each draws from props and says what the user did
//! through callbacks; none talks to the network.

pub mod advice;
pub mod domain_report;
pub mod error_notice;
pub mod findings;
pub mod lab_targets;
pub mod mx_hosts;
pub mod probe_matrix;
pub mod progress;
pub mod report_actions;
pub mod step_list;
pub mod step_panel;
pub mod target_form;
pub mod verdict_banner;
