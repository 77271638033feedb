#!/usr/bin/env bash
# Seeds each fuzz corpus with small real files from the shared fixtures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${CRUCIATE_FIXTURES:-$here/../../shared/fixtures}
seed_into() { local t=$1; shift; mkdir -p "$here/corpus/$t"; for f in "$@"; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 200000 ] && cp "$f" "$here/corpus/$t/$(basename "$f")"; done; true; }
seed_into dicom "$fixtures"/dicom/pydicom/test_files/*.dcm "$fixtures"/dicom/pydicom-data/emri_small*.dcm
seed_into nifti "$fixtures"/nifti/nibabel/*.nii "$fixtures"/nifti/nibabel/*.hdr
for f in "$fixtures"/nifti/nibabel/*.nii.gz; do gunzip -c "$f" > "$here/corpus/nifti/$(basename "$f" .gz)"; done
seed_into npy "$fixtures"/kneemri-format/*.npy
seed_into pickle "$fixtures"/kneemri-format/*.pck
seed_into any "$fixtures"/kneemri-format/*.pck "$fixtures"/nifti/nibabel/*.gz "$fixtures"/dicom/pydicom/test_files/MR_small*.dcm "$fixtures"/dicom/pydicom/test_files/zipMR.gz
python3 - "$fixtures/dicom/pydicom/test_files/MR_small.dcm" "$here/corpus/any/mr_small.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[1], "IM0001.dcm")
PY
