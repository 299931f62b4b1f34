//! Uploads, listings and downloads of workspace files, each policy-checked and audited.

use crate::service::{store_err, Gateway};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    outputs::OutputPlace,
    policy_input::{Action, RequestFacts},
    ports::{Change, SandboxError},
    ErrorCode, FileInfo, GatewayError, Principal, SessionId, WorkspacePath,
};

fn sandbox_err(e: SandboxError) -> GatewayError {
    let message = match &e {
        SandboxError::FileNotFound => "no such file in the workspace".to_owned(),
        SandboxError::Quota(m) => m.clone(),
        other => {
            tracing::warn!(error = %other, "a workspace file operation failed");
            other.to_string()
        }
    };
    GatewayError::new(e.error_code(), message)
}

impl Gateway {
    pub async fn upload_file(
        &self,
        p: &Principal,
        id: &SessionId,
        path: &WorkspacePath,
        data: Vec<u8>,
        classification: Option<String>,
    ) -> Result<FileInfo, GatewayError> {
        self.check_admits_work()?;
        let live = self.live_session(p, id).await?;
        let _turn = live.turn.lock().await;
        let session = live.session.lock().await.clone();
        let request = RequestFacts {
            path: Some(path.to_string()),
            size: Some(data.len() as u64),
            classification: classification.clone(),
            ..Default::default()
        };
        let input = self.input(Action::FileUpload, p, Some(&session), 0, request);
        self.decide_recorded(p, &input, id).await?;
        let mut info = live
            .sandbox
            .write_file(path, data)
            .await
            .map_err(sandbox_err)?;
        info.classification = Some(classification.unwrap_or_else(|| "internal".into()));
        let mut s = live.session.lock().await;
        live.add_labels(&mut s, info.classification.clone());
        let changes = vec![
            Change::PutFile {
                session_id: id.clone(),
                file: info.clone(),
            },
            Change::PutSession(Box::new(s.clone())),
        ];
        drop(s);
        let ev = NewEvent::new(
            types::FILE_UPLOADED,
            Some(id.to_string()),
            payload::file(p, id.as_str(), &info),
        );
        self.deps.audit.record(changes, vec![ev]).await?;
        Ok(info)
    }

    pub async fn list_files(
        &self,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Vec<FileInfo>, GatewayError> {
        let live = self.live_session(p, id).await?;
        let known = self.deps.store.files(id).await.map_err(store_err)?;
        let mut files = live.sandbox.list_files().await.map_err(sandbox_err)?;
        for f in &mut files {
            f.classification = known
                .iter()
                .find(|k| k.path == f.path)
                .and_then(|k| k.classification.clone());
        }
        Ok(files)
    }

    pub async fn download_file(
        &self,
        p: &Principal,
        id: &SessionId,
        path: &WorkspacePath,
    ) -> Result<(FileInfo, Vec<u8>), GatewayError> {
        let live = self.live_session(p, id).await?;
        let session = live.session.lock().await.clone();
        let input = self.input(
            Action::FileDownload,
            p,
            Some(&session),
            0,
            RequestFacts {
                path: Some(path.to_string()),
                ..Default::default()
            },
        );
        self.decide_recorded(p, &input, id).await?;
        let max = u64::from(session.limits.workspace_mib) << 20;
        let data = live
            .sandbox
            .read_file(path, max)
            .await
            .map_err(sandbox_err)?;
        let (data, inspected) = self.inspect_file(p, &live, id, data);
        let inspected_event = inspected.map(|i| {
            (
                i.event(p, id.as_str(), None, Some(path.as_str())),
                i.withheld,
            )
        });
        if let Some((ev, Some(w))) = inspected_event.clone() {
            self.deps.audit.record(vec![], vec![ev]).await?;
            return Err(GatewayError::new(
                ErrorCode::OutputBlocked,
                format!("{}; the file is withheld", w.reasons()),
            )
            .with_details(serde_json::json!({"violations": w.violations})));
        }
        let known = self.deps.store.files(id).await.map_err(store_err)?;
        let info = FileInfo {
            path: path.to_string(),
            size: data.len() as u64,
            sha256: payload::sha256_hex(&data),
            classification: known
                .iter()
                .find(|k| k.path == path.as_str())
                .and_then(|k| k.classification.clone()),
            media_type: airlock_gateway_domain::files::media_type_for(path.as_str()).into(),
        };
        let ev = NewEvent::new(
            types::FILE_DOWNLOADED,
            Some(id.to_string()),
            payload::file(p, id.as_str(), &info),
        );
        let mut events: Vec<NewEvent> = inspected_event.map(|(e, _)| e).into_iter().collect();
        events.push(ev);
        self.deps.audit.record(vec![], events).await?;
        Ok((info, data))
    }

    /// A file on its way out, inspected: text masked as policy says, a file that is not text
    /// reported as `uninspectable`. Withheld: empty data and the inspection says why. A file
    /// is read anew on every download, so there is no one output a reviewer could release: a
    /// hold refuses it like a block.
    fn inspect_file(
        &self,
        p: &Principal,
        live: &crate::sessions::LiveSession,
        id: &SessionId,
        data: Vec<u8>,
    ) -> (Vec<u8>, Option<crate::outputs::Inspected>) {
        let mut g = self.output_guard(p, live, id);
        let data = match String::from_utf8(data) {
            Ok(text) => g.text(OutputPlace::File, text).map(String::into_bytes),
            Err(not_text) => {
                g.uninspectable(OutputPlace::File);
                Some(not_text.into_bytes())
            }
        };
        let data = data.filter(|_| !g.blocked() && !g.holding());
        (data.unwrap_or_default(), g.finish())
    }
}
