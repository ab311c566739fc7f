//! The API's description over HTTP (issue 9): the OpenAPI document and the API page come from
//! the real server without a token.

use serde_json::Value;

use crate::server::TestServer;

pub async fn the_document_and_the_api_page_need_no_token(server: TestServer) {
    let api = server.api();
    // A token that is no token: ignored here, where any other route would answer 401.
    for client in [api.clone(), api.with_token("not-a-token-at-all")] {
        let (status, text) = client.root_get("/api/v1/mq/openapi.json").await;
        assert_eq!(status, 200, "{text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        assert!(doc["paths"]["/api/v1/mq/messages"]["post"].is_object());
        assert!(doc["paths"]["/healthz"]["get"].is_object());

        // `/docs` redirects to `/docs/`, which the client follows.
        for path in ["/docs/", "/docs"] {
            let (status, page) = client.root_get(path).await;
            assert_eq!(status, 200, "{path}: {page}");
            assert!(page.contains("<html") && page.contains("swagger-ui"), "{path}: {page}");
        }
        let (status, script) = client.root_get("/docs/swagger-initializer.js").await;
        assert_eq!(status, 200);
        assert!(script.contains("/api/v1/mq/openapi.json"), "{script}");
    }
}
