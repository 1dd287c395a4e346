//! Stock gRPC tooling works out of the box (ARCHITECTURE.md §4): a generic client discovers the
//! services and their schemas through server reflection, and the health service answers, both
//! without a bearer token.

use futures::StreamExt;
use prost::Message;
use prost_types::FileDescriptorProto;
use raccordo_tests::TestApp;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SERVICES: [&str; 6] = [
    "raccordo.v1.DimissioneProtetta",
    "raccordo.v1.Pua",
    "raccordo.v1.CentroFamiglia",
    "raccordo.v1.Pathways",
    "raccordo.v1.Inbox",
    "grpc.health.v1.Health",
];

/// Asks the reflection service one question and returns its answer.
async fn reflect(app: &TestApp, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("the reflection service answers")
        .into_inner();
    answers
        .next()
        .await
        .expect("one answer")
        .expect("a valid answer")
        .message_response
        .expect("an answer with content")
}

#[tokio::test]
async fn reflection_lists_every_service() {
    let app = TestApp::spawn().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&app, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a list of services");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in SERVICES {
        assert!(
            names.contains(&service),
            "{service} is not listed in {names:?}"
        );
    }
    app.stop().await;
}

/// The descriptors of the files `request` names, decoded.
async fn files(app: &TestApp, request: MessageRequest) -> Vec<FileDescriptorProto> {
    let answer = reflect(app, request).await;
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        panic!("expected file descriptors, got {answer:?}");
    };
    files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("a file descriptor"))
        .collect()
}

/// As grpcurl does: the file holding `service`, then every file it imports, by name.
async fn described(app: &TestApp, service: &str) -> Vec<FileDescriptorProto> {
    let symbol = MessageRequest::FileContainingSymbol(service.into());
    let mut known = files(app, symbol).await;
    let mut resolved = 0;
    while resolved < known.len() {
        for dependency in known[resolved].dependency.clone() {
            if !known.iter().any(|f| f.name() == dependency) {
                known.extend(files(app, MessageRequest::FileByFilename(dependency)).await);
            }
        }
        resolved += 1;
    }
    known
}

#[tokio::test]
async fn reflection_describes_the_methods_a_generic_client_can_call() {
    let app = TestApp::spawn().await;
    let known = described(&app, "raccordo.v1.DimissioneProtetta").await;

    let service = known
        .iter()
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "DimissioneProtetta")
        .expect("the service's file is among the answers");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    for method in ["Request", "Receive", "RecordDischarge", "Close", "Cancel"] {
        assert!(methods.contains(&method), "{method} is not in {methods:?}");
    }
    let request = service
        .method
        .iter()
        .find(|m| m.name() == "Request")
        .unwrap();
    assert_eq!(request.input_type(), ".raccordo.v1.RequestDischargeRequest");
    assert_eq!(request.output_type(), ".raccordo.v1.CommandReply");
    // Every message the service speaks is described, so the client can build and read them.
    let messages: Vec<String> = known
        .iter()
        .flat_map(|f| {
            f.message_type
                .iter()
                .map(move |m| format!(".{}.{}", f.package(), m.name()))
        })
        .collect();
    for method in &service.method {
        for message in [method.input_type(), method.output_type()] {
            assert!(
                messages.iter().any(|m| m == message),
                "{message} is not described"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn reflection_describes_the_history_stream() {
    let app = TestApp::spawn().await;
    let known = described(&app, "raccordo.v1.Pathways").await;
    let service = known
        .iter()
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "Pathways")
        .expect("the service's file is among the answers");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    assert_eq!(methods, ["Get", "List", "History"]);
    let history = &service.method[2];
    assert_eq!(history.input_type(), ".raccordo.v1.HistoryRequest");
    assert_eq!(history.output_type(), ".raccordo.v1.HistoryItem");
    assert!(history.server_streaming() && !history.client_streaming());
    let messages: Vec<&str> = known
        .iter()
        .flat_map(|f| &f.message_type)
        .map(|m| m.name())
        .collect();
    for message in [
        "HistoryRequest",
        "HistoryItem",
        "TimelineHeader",
        "TimelineAct",
        "TimelineWait",
        "TimelineDeadline",
        "TimelineFinding",
        "StepRef",
        "Provenance",
    ] {
        assert!(messages.contains(&message), "{message} is not described");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_health_service_reports_every_service_serving() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.channel().await);
    for service in SERVICES.iter().filter(|s| s.starts_with("raccordo.")) {
        let answer = health
            .check(HealthCheckRequest {
                service: (*service).to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e:?}"))
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "raccordo.v1.Nothing".into(),
        })
        .await
        .expect_err("an unknown service has no health");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    app.stop().await;
}
