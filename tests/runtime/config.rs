//! `NodeConfig`: its defaults, its checks, and the starts it refuses.

use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::core::ConfigError;
use duckduckgoose::runtime::{Node, NodeConfig, NodeConfigError, StartError};
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::MemoryTransport;

use crate::common::{config, ids, learner_config};

#[test]
fn node_config_defaults_convert_to_the_core_defaults_but_a_narrower_timeout() {
    let config = NodeConfig::new(NodeId(1), ids(3));
    config.validate().expect("the defaults are valid");
    let core = config.to_core_config().expect("whole ticks");
    let core_defaults = duckduckgoose::core::Config::new(NodeId(1), ids(3));
    assert_eq!(core.heartbeat_interval_ticks, 5);
    assert_eq!(core.election_timeout_min_ticks, 30);
    // 300..450 ms: the core keeps 30..60 ticks, the simulator's timing.
    assert_eq!(core.election_timeout_max_ticks, 45);
    assert_eq!(core_defaults.election_timeout_max_ticks, 60);
    let core = core.with_election_timeout_max_ticks(60);
    assert_eq!(core, core_defaults);
    assert_eq!(core.drift_bound_ppm, 50_000);
    // 25 ticks of 10 ms: a 250 ms lease.
    assert_eq!(core.lease_ticks(), 25);
    assert_eq!(core.max_lease_ticks(), 25);
}

#[test]
fn node_config_validate_reports_each_problem() {
    let base = NodeConfig::new(NodeId(1), ids(3));
    let ms = Duration::from_millis;

    let mut config = base.clone();
    config.tick = Duration::ZERO;
    assert_eq!(config.validate(), Err(NodeConfigError::ZeroTick));

    let mut config = base.clone();
    config.heartbeat = ms(55);
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::NotWholeTicks {
            field: "heartbeat",
            duration: ms(55),
            tick: ms(10),
        })
    );

    let mut config = base.clone();
    config.election_timeout = ms(300)..ms(605);
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::NotWholeTicks {
            field: "election_timeout.end",
            ..
        })
    ));

    let mut config = base.clone();
    config.heartbeat = Duration::ZERO;
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::ZeroTicks { field: "heartbeat" })
    );

    let mut config = base.clone();
    config.election_timeout = ms(600)..ms(300);
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::Core(
            ConfigError::EmptyElectionTimeoutRange { .. }
        ))
    ));

    let mut config = base.clone();
    config.id = NodeId(9);
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::Core(ConfigError::NotAMember {
            id: NodeId(9)
        }))
    );

    let mut config = base.clone();
    config.members.clear();
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::Core(ConfigError::NoVoters))
    );

    // A 1 s heartbeat outlasts the 250 ms lease.
    let mut config = base.clone();
    config.heartbeat = ms(1000);
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::Core(
            ConfigError::LeaseNotLongerThanHeartbeat { .. }
        ))
    ));

    let mut config = base;
    config.drift_bound_ppm = 600_000;
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::Core(
            ConfigError::DriftBoundTooLarge { .. }
        ))
    ));
}

#[tokio::test(start_paused = true)]
async fn start_rejects_an_invalid_config() {
    let network = MemoryTransport::network(11);
    let mut config = config(NodeId(1), &ids(3));
    config.tick = Duration::ZERO;
    let started = Node::start(config, network.transport(NodeId(1)), MemStorage::new()).await;
    assert!(matches!(
        started,
        Err(StartError::Config(NodeConfigError::ZeroTick))
    ));
}

#[test]
fn node_config_learners_convert_and_validate() {
    // A learner's own configuration: its id among the learners only.
    let learner = learner_config(NodeId(4));
    learner.validate().expect("a learner may run a node");
    let core = learner.to_core_config().expect("whole ticks");
    assert_eq!(core.membership.voters().collect::<Vec<_>>(), ids(3));
    assert_eq!(core.membership.learners().collect::<Vec<_>>(), [NodeId(4)]);
    assert_eq!(core.membership.quorum(), 2, "learners do not count");

    // Voters get the same membership.
    let voter = learner_config(NodeId(1));
    voter.validate().expect("valid");
    assert_eq!(
        voter.to_core_config().expect("whole ticks").membership,
        core.membership
    );

    // No learners by default.
    assert!(NodeConfig::new(NodeId(1), ids(3)).learners.is_empty());

    let mut both = learner_config(NodeId(1));
    both.learners.push(NodeId(2));
    assert_eq!(
        both.validate(),
        Err(NodeConfigError::Core(ConfigError::VoterAndLearner {
            id: NodeId(2)
        }))
    );

    let mut stranger = learner_config(NodeId(5));
    assert_eq!(
        stranger.validate(),
        Err(NodeConfigError::Core(ConfigError::NotAMember {
            id: NodeId(5)
        }))
    );
    // Learners alone make no cluster.
    stranger.id = NodeId(4);
    stranger.members.clear();
    assert_eq!(
        stranger.validate(),
        Err(NodeConfigError::Core(ConfigError::NoVoters))
    );
}

#[tokio::test(start_paused = true)]
async fn start_rejects_a_node_listed_as_voter_and_learner() {
    let network = MemoryTransport::network(15);
    let mut config = learner_config(NodeId(1));
    config.learners.push(NodeId(1));
    let started = Node::start(config, network.transport(NodeId(1)), MemStorage::new()).await;
    assert!(matches!(
        started,
        Err(StartError::Config(NodeConfigError::Core(
            ConfigError::VoterAndLearner { id: NodeId(1) }
        )))
    ));
}
