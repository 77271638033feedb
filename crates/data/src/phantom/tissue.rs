//! Signal of each tissue on a proton-density fat-suppressed sequence, before the scanner's
//! gain, bias field and noise (0 = no signal, 1 = joint fluid at its brightest).

/// Air outside the leg.
pub const AIR: f32 = 0.0;
/// Skin.
pub const SKIN: f32 = 0.32;
/// Subcutaneous and popliteal fat (suppressed).
pub const FAT: f32 = 0.10;
/// Muscle (intermediate-dark).
pub const MUSCLE: f32 = 0.30;
/// Tendons (very dark).
pub const TENDON: f32 = 0.05;
/// Intact ligament fibres (very dark).
pub const LIGAMENT: f32 = 0.07;
/// Menisci (very dark).
pub const MENISCUS: f32 = 0.05;
/// Cortical bone (no signal).
pub const CORTEX: f32 = 0.04;
/// Fatty bone marrow (suppressed).
pub const MARROW: f32 = 0.14;
/// Hyaline cartilage (intermediate to bright).
pub const CARTILAGE: f32 = 0.52;
/// Joint fluid (very bright).
pub const FLUID: f32 = 0.90;
/// Hoffa's infrapatellar fat pad (suppressed).
pub const HOFFA: f32 = 0.12;
/// Synovium and fat in the intercondylar notch.
pub const NOTCH: f32 = 0.27;
/// Bone marrow oedema (bruise).
pub const BRUISE: f32 = 0.60;
