//! The BASIC engine's routes on a real server: access rules, tools, webhooks, the bots
//! list with compile errors, the default bot.

use crate::process::{Server, call, call_with};
use serde_json::json;

#[cfg(all(feature = "auto", feature = "tasks"))]
#[test]
fn bot_routes_check_access_and_run_tools_webhooks_and_dialogs() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("botserver-data/bots/shop.gbai/shop.gbdialog");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("price.bas"),
        "PARAM item AS STRING DESCRIPTION \"Item\"\nDESCRIPTION \"Price of an item\"\nTALK \"looking up \" + item\nRETURN LEN(item) * 10\n",
    )
    .unwrap();
    std::fs::write(
        pkg.join("hook.bas"),
        "WEBHOOK \"orders\"\nRETURN { \"got\": body.id }\n",
    )
    .unwrap();
    std::fs::write(pkg.join("broken.bas"), "TALK \"x\"\nPUBLISH y\n").unwrap();
    let gbot = dir.path().join("botserver-data/bots/shop.gbai/shop.gbot");
    std::fs::create_dir_all(&gbot).unwrap();
    std::fs::write(gbot.join("config.csv"), "name,value\nwebhook-key,hook-secret-1\n").unwrap();
    let server = Server::start(
        dir.path(),
        &[("BOTSERVER_SECRET_ADMIN_PASSWORD", "bots-admin-pass-1".into())],
    );
    let addr = server.addr;
    let (status, v) = call(
        addr,
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "admin", "password": "bots-admin-pass-1"})),
    );
    assert_eq!(status, 200, "{v}");
    let token = v["access_token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());

    // Signed-in routes refuse anonymous callers.
    assert_eq!(call(addr, "GET", "/api/bots", None, None).0, 401);
    assert_eq!(call(addr, "GET", "/api/bots/shop/tools", None, None).0, 401);
    assert_eq!(
        call(
            addr,
            "POST",
            "/api/bots/shop/tools/price",
            None,
            Some(&json!({"item": "pen"}))
        )
        .0,
        401
    );

    // The list shows the default bot and the compile error of the broken script.
    let (status, bots) = call(addr, "GET", "/api/bots", t, None);
    assert_eq!(status, 200, "{bots}");
    let names: Vec<&str> = bots
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "shop"]);
    let shop = &bots[1];
    assert_eq!(shop["tools"], json!(["price"]));
    assert!(
        shop["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("broken.bas:2:1: unknown keyword PUBLISH"),
        "{shop}"
    );

    let (status, tools) = call(addr, "GET", "/api/bots/shop/tools", t, None);
    assert_eq!(status, 200);
    assert_eq!(tools[0]["openai"]["function"]["name"], "price");
    assert_eq!(tools[0]["mcp"]["inputSchema"]["required"], json!(["item"]));

    let (status, r) = call(
        addr,
        "POST",
        "/api/bots/shop/tools/price",
        t,
        Some(&json!({"item": "pen"})),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r, json!({"result": 30, "messages": ["looking up pen"]}));
    let (status, r) = call(addr, "POST", "/api/bots/shop/tools/price", t, Some(&json!({})));
    assert_eq!(status, 400, "{r}");
    assert!(r["message"].as_str().unwrap().contains("item"), "{r}");
    assert_eq!(
        call(addr, "POST", "/api/bots/nobody/tools/price", t, Some(&json!({}))).0,
        404
    );

    // Webhooks are public, need the bot's webhook secret, and get the posted body.
    let hook = |key: &str, name: &str| {
        call_with(
            addr,
            "POST",
            &format!("/api/bots/shop/webhooks/{name}"),
            &[("X-Webhook-Key", key)],
            Some(&json!({"id": 7})),
        )
    };
    let (status, r) = hook("hook-secret-1", "orders");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"], json!({"got": 7}));
    assert_eq!(hook("wrong", "orders").0, 401);
    assert_eq!(hook("hook-secret-1", "nope").0, 404);

    // The default bot answers a dialog turn; a bad request is a clear 400.
    let (status, r) = call(
        addr,
        "POST",
        "/api/bots/default/dialog",
        t,
        Some(&json!({"session": "s"})),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["waiting_for_input"], true);
    assert_eq!(r["messages"][1]["content"], "What would you like to know?");
    let (status, r) = call(
        addr,
        "POST",
        "/api/bots/default/dialog",
        t,
        Some(&json!({"session": ""})),
    );
    assert_eq!(status, 400, "{r}");
    let (status, _) = call(
        addr,
        "POST",
        "/api/bots/default/dialog",
        t,
        Some(&json!({"session": "s", "extra": 1})),
    );
    assert_eq!(status, 400);
}
