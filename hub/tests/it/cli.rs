//! The command line's definition holds together (clap checks it only when a command is parsed).

use clap::CommandFactory;

#[test]
fn every_command_and_flag_is_well_defined() {
    cairn_hub::Cli::command().debug_assert();
}
