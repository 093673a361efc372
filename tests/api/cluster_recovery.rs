//! Dashboard recovery across three real nodes on one PostgreSQL and one Redis: the history is shared, so a
//! dashboard cut off from its node while others write gets exactly what it missed, from any node.

use crate::cluster::{Cluster, Proxy};
use crate::probe::{clients_available, SioProbe};
use crate::recovery::{
    agent_replies, conversation, host_port, numbered, plain_dashboard, read_until_message, texts, until_notice,
    witnessed,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_cut_off_from_one_node_recover_what_others_wrote() {
    let Some(cluster) = Cluster::new().await else { return };
    let (a, b, c) = (cluster.node("a", &[]).await, cluster.node("b", &[]).await, cluster.node("c", &[]).await);
    let tenant = a.app.new_tenant(&["chatbot"]).await;
    let key = a.app.chat_key(&tenant).await;
    let (mut visitor, conversation_id) = conversation(&a.app, &key).await;
    let plain_proxy = Proxy::start(host_port(&c.app.address)).await;
    let plain_address = format!("127.0.0.1:{}", plain_proxy.port);
    let sio_proxy = Proxy::start(host_port(&c.app.socketio_url)).await;
    let mut witness = a.app.dashboard_ws(&tenant.token).await;
    let mut plain = plain_dashboard(&plain_address, &tenant.token, None).await;
    until_notice(&mut plain).await;
    let mut sio = if clients_available() {
        let url = format!("http://127.0.0.1:{}", sio_proxy.port);
        let mut probe = SioProbe::connect_recovering(&url, &tenant.token).await.connected().await;
        probe.event("recovery:ready").await;
        Some(probe)
    } else {
        None
    };

    agent_replies(&b.app, &tenant.token, &conversation_id, &["before".into()]).await;
    let last = read_until_message(&mut plain, "before").await;
    if let Some(probe) = &mut sio {
        probe.event_where("message:new", |d| d["message"]["text"] == "before").await;
    }
    plain_proxy.cut();
    sio_proxy.cut();
    plain.recv_close().await;
    if let Some(probe) = &mut sio {
        probe.disconnected().await;
    }
    // Meanwhile the agent writes on B and the visitor on A.
    agent_replies(&b.app, &tenant.token, &conversation_id, &numbered("agent", 4)).await;
    for i in 0..2 {
        let text = format!("visitor {i}");
        visitor.send_json(&json!({ "type": "message", "text": text, "client_msg_id": format!("v{i}") })).await;
        visitor.recv_type("ack").await;
    }
    let mut expected = numbered("agent", 4);
    expected.extend(numbered("visitor", 2));
    plain_proxy.restore();
    sio_proxy.restore();

    let mut resumed = plain_dashboard(&plain_address, &tenant.token, Some(&last)).await;
    let (replayed, ready) = until_notice(&mut resumed).await;
    assert_eq!(ready["event"], "recovery:ready", "{ready}");
    assert_eq!(texts(&replayed), expected, "what B and A wrote, in order, once");
    let through = ready["data"]["offset"].as_u64().expect("offset");
    assert_eq!(replayed, witnessed(&mut witness, last.0, through).await, "what a dashboard on A saw live");

    // The history is the cluster's: the same place resumes on another node.
    let mut elsewhere = plain_dashboard(&host_port(&b.app.address), &tenant.token, Some(&last)).await;
    let (replayed_on_b, _) = until_notice(&mut elsewhere).await;
    assert_eq!(replayed_on_b.get(..replayed.len()), Some(&replayed[..]));

    if let Some(probe) = &mut sio {
        let mut got = Vec::new();
        loop {
            let line = probe.next().await;
            match line["event"].as_str() {
                Some("message:new") => {
                    got.push(line["data"]["message"]["text"].as_str().unwrap_or_default().to_owned())
                }
                Some("recovery:ready") => break,
                Some("recovery:reset") => panic!("expected a replay, got {line}"),
                _ => {}
            }
        }
        assert_eq!(got, expected, "the Socket.IO dashboard on C too");
    }

    let foreign = (last.0, "another-epoch".to_owned());
    let (_, reset) = until_notice(&mut plain_dashboard(&plain_address, &tenant.token, Some(&foreign)).await).await;
    assert_eq!(
        (reset["event"].as_str(), reset["data"]["epoch"].as_str()),
        (Some("recovery:reset"), Some(last.1.as_str()))
    );
}
