//! A blocking client of the REST API with one bearer token, and its answers.

use super::*;

pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::blocking::Client,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// A response read whole; its body as JSON (Null when it is not).
    pub fn of(r: reqwest::blocking::Response) -> Self {
        let status = r.status().as_u16();
        let bytes = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            body,
            bytes,
        }
    }
}

impl Api {
    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Resp {
        Resp::of(
            rb.bearer_auth(&self.token)
                .send()
                .unwrap_or_else(|e| panic!("request: {e}")),
        )
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{path}", self.base)))
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body),
        )
    }

    pub fn session(&self) -> String {
        let r = self.post("/v1/sessions", json!({}));
        assert_eq!(r.status, 201, "create session: {}", r.body);
        r.body["id"].as_str().unwrap_or_default().to_owned()
    }

    pub fn run(&self, session: &str, language: &str, code: &str) -> Resp {
        self.post(
            &format!("/v1/sessions/{session}/executions"),
            json!({"language": language, "code": code}),
        )
    }

    pub fn run_with(&self, session: &str, body: Value) -> Resp {
        self.post(&format!("/v1/sessions/{session}/executions"), body)
    }

    pub fn upload(
        &self,
        session: &str,
        name: &str,
        data: Vec<u8>,
        classification: Option<&str>,
    ) -> Resp {
        let part = reqwest::blocking::multipart::Part::bytes(data).file_name(name.to_owned());
        let mut form = reqwest::blocking::multipart::Form::new().part("file", part);
        if let Some(c) = classification {
            form = form.text("classification", c.to_owned());
        }
        self.send(
            self.http
                .post(format!("{}/v1/sessions/{session}/files", self.base))
                .multipart(form),
        )
    }

    pub fn upload_path(&self, session: &str, path: &str, data: Vec<u8>) -> Resp {
        let part = reqwest::blocking::multipart::Part::bytes(data).file_name("x.bin");
        let form = reqwest::blocking::multipart::Form::new()
            .part("file", part)
            .text("path", path.to_owned());
        self.send(
            self.http
                .post(format!("{}/v1/sessions/{session}/files", self.base))
                .multipart(form),
        )
    }
}

/// The `stdout` of a succeeded execution, or a panic that shows the whole response.
pub fn stdout_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    r.body["stdout"].as_str().unwrap_or_default().to_owned()
}
