//! Where OCI and Docker images came from: the reference and digests recorded beside their
//! index rows, so a stored image is found by its manifest digest (`sha256:…`,
//! `docker://REPO@sha256:…`) as well as by its name and tag.

use std::collections::HashMap;

use crate::error::Result;
use crate::import::Imported;
use crate::import::oci::{OciImage, OpenLayer};
use crate::index::OciOrigin;
use crate::store::Store;

impl Store {
    /// Imports an OCI or Docker image as [`Store::import_oci`] does, then records `origin`.
    /// The record is a second commit: an image whose import was killed between the two is
    /// found by name but not by digest until it is imported again, which records it (an
    /// image already stored is not read again, only recorded).
    pub fn import_oci_from(
        &mut self,
        image: &OciImage,
        origin: &OciOrigin,
        open: &mut OpenLayer<'_>,
    ) -> Result<Imported> {
        let imported = self.import_oci(image, open)?;
        self.index_mut()?.set_origin(&imported.id, origin)?;
        Ok(imported)
    }

    /// Where each stored OCI image came from, by image ID (ACIs have no entry).
    pub fn origins(&self) -> Result<HashMap<String, OciOrigin>> {
        self.index()?.origins()
    }

    /// Where image `id` came from, if it is an OCI image.
    pub fn origin(&self, id: &str) -> Result<Option<OciOrigin>> {
        Ok(self.index()?.origins()?.remove(id))
    }
}
