//! One part of the page per file: a function drawing from what it is given
//! and saying what the user did through callbacks; none talks to the
//! network. Plain functions rather than yew components: each component
//! costs the page its own copy of yew's lifecycle code (about 14 KB gzipped
//! for all of them), and only App holds state.

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
