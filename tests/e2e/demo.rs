//! `haven demo --xr --headless` under Xvfb, rendered by lavapipe (Mesa's CPU Vulkan), on a
//! machine with the OpenXR loader but no runtime: the app says once that XR could not start and
//! runs flat (exit 0, `"xr": false`); the room appears, the simulated patient's avatar stands
//! out where its seat is, the CT it shared is on the wall display, and the figures line reports
//! poses and voice received. Checked by regions, not against a whole-image golden.

use std::path::Path;
use std::process::Command;

use crate::support::heavy;

const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

/// Held while a demo renders.
static RENDERING: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Picture {
    pixels: Vec<u8>,
    width: usize,
    height: usize,
    channels: usize,
}

fn rgb_at(p: &Picture, x: usize, y: usize) -> [i32; 3] {
    let pixels = &p.pixels;
    let i = (y * p.width + x) * p.channels;
    [
        i32::from(pixels[i]),
        i32::from(pixels[i + 1]),
        i32::from(pixels[i + 2]),
    ]
}

fn difference(a: [i32; 3], b: [i32; 3]) -> i32 {
    (a[0] - b[0]).abs() + (a[1] - b[1]).abs() + (a[2] - b[2]).abs()
}

/// Runs `haven demo --headless` with `args` under Xvfb; returns its figures, its stderr and
/// the screenshot, or `None` where there is no Xvfb (never in CI).
fn run_demo(args: &[&str]) -> Option<(serde_json::Value, String, Picture)> {
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        heavy::skipped("no xvfb-run (cargo xtask deps installs it)");
        return None;
    }
    // One render at a time: lavapipe draws on the CPU, and several windows at once on two
    // cores starve the simulated participants (a therapist's heartbeat late by 5 s sends the
    // patient to the safe room, as it should).
    let _one_at_a_time = RENDERING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = std::env::temp_dir().join(format!(
        "haven-demo-{}-{}",
        std::process::id(),
        args.join("").len()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let shot = dir.join("demo.png");
    let out = Command::new("timeout")
        .args([
            "600",
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1280x720x24",
            HAVEN,
        ])
        .args(["demo", "--headless"])
        .args(args)
        .arg("--screenshot")
        .arg(&shot)
        .env("HAVEN_LOG", "warn")
        .output()
        .expect("runs the demo");
    assert!(
        out.status.success(),
        "haven demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let figures: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a figures line")).expect("JSON");
    let picture = load(&shot);
    assert_eq!((picture.width, picture.height), (1280, 720));
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    heavy::ran();
    Some((
        figures,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        picture,
    ))
}

/// A PNG's pixels.
fn load(path: &Path) -> Picture {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("decodes");
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    Picture {
        pixels,
        width: info.width as usize,
        height: info.height as usize,
        channels,
    }
}

/// The mean colour of the rectangle `x0..x1, y0..y1` (fractions of the picture's size).
fn mean_rgb(p: &Picture, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> [f64; 3] {
    let (xs, ys) = (
        (x0 * p.width as f64) as usize..(x1 * p.width as f64) as usize,
        (y0 * p.height as f64) as usize..(y1 * p.height as f64) as usize,
    );
    let n = (xs.len() * ys.len()).max(1) as f64;
    let mut sum = [0.0; 3];
    for y in ys {
        for x in xs.clone() {
            let c = rgb_at(p, x, y);
            for k in 0..3 {
                sum[k] += f64::from(c[k]);
            }
        }
    }
    sum.map(|s| s / n)
}

/// The mean absolute difference per channel between `a` and `b` over the region (fractions
/// of each picture's size), compared cell by cell on a `cells`×`cells` grid of mean colours:
/// pictures of different sizes compare, and a one-pixel shift of an edge counts little.
/// Returns the mean over the cells and the largest cell's.
fn region_difference(
    a: &Picture,
    b: &Picture,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    cells: usize,
) -> (f64, f64) {
    let mut total = 0.0;
    let mut most: f64 = 0.0;
    for j in 0..cells {
        for i in 0..cells {
            let xs = (
                x0 + (x1 - x0) * i as f64 / cells as f64,
                x0 + (x1 - x0) * (i + 1) as f64 / cells as f64,
            );
            let ys = (
                y0 + (y1 - y0) * j as f64 / cells as f64,
                y0 + (y1 - y0) * (j + 1) as f64 / cells as f64,
            );
            let (ca, cb) = (mean_rgb(a, xs, ys), mean_rgb(b, xs, ys));
            let cell = (0..3).map(|k| (ca[k] - cb[k]).abs()).sum::<f64>() / 3.0;
            total += cell;
            most = most.max(cell);
        }
    }
    (total / (cells * cells) as f64, most)
}

/// Rows of the band `ys` where column `x` differs from the wall at `left` and `right` (which
/// agree with each other): something stands in front of the wall there.
fn stands_out(
    picture: &Picture,
    ys: std::ops::Range<usize>,
    x: usize,
    left: usize,
    right: usize,
) -> usize {
    ys.filter(|&y| {
        let wall = rgb_at(picture, left, y);
        let other = rgb_at(picture, right, y);
        let avatar = rgb_at(picture, x, y);
        difference(wall, other) < 40 && difference(avatar, wall) > 40
    })
    .count()
}

#[test]
fn the_demo_falls_back_from_xr_and_renders_the_room_with_the_patient_in_it() {
    let Some((figures, stderr, picture)) = run_demo(&["--xr", "--frames", "12"]) else {
        return;
    };
    assert!(figures["frames"].as_u64() >= Some(12), "{figures}");
    assert!(figures["poses_received"].as_u64() > Some(0), "{figures}");
    assert!(
        figures["audio_frames_received"].as_u64() > Some(0),
        "{figures}"
    );
    assert_eq!(figures["xr"], false);
    // One clear line says why it is flat.
    let said = stderr
        .lines()
        .filter(|l| l.contains("XR:") && l.contains("runs in the flat window"))
        .count();
    assert_eq!(said, 1, "the XR fallback line, once: {stderr}");
    assert!(figures["frame_ms_p50"].as_f64().is_some(), "{figures}");

    // The patient's head is seen across the table, just below the wall display: in the band
    // y 280..330 the middle column must differ from the wall on either side of it.
    let head = stands_out(&picture, 280..330, 631, 480, 800);
    assert!(
        head >= 35,
        "the patient's head stands out in only {head} of 50 rows"
    );
    // The patient's shared scan is on the wall display: the display's middle is an image
    // (varied greys), not the empty panel's even dark (this band lies between the empty
    // panel's two lines of text).
    let lum: Vec<f64> = (118..146)
        .flat_map(|y| (560..720).map(move |x| (x, y)))
        .map(|(x, y)| {
            let [r, g, b] = rgb_at(&picture, x, y);
            f64::from(r + g + b) / 3.0
        })
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    let sd = (lum.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / lum.len() as f64).sqrt();
    assert!(
        sd > 20.0,
        "the wall display looks empty (luminance sd {sd:.1})"
    );
    // The room is lit: the wall is neither black nor blown out.
    let wall = rgb_at(&picture, 200, 300);
    assert!(
        wall.iter().all(|&c| (60..250).contains(&c)),
        "wall colour {wall:?}"
    );
}

/// The patient's window: the sample scan and records wait in the "What you share" picker, the
/// patient presses "Share ticked", both reach the simulated clinician, whose avatar sits across
/// the table; the picker panel is drawn at the top right.
#[test]
fn the_patient_shares_from_the_picker_and_sees_the_clinician_across_the_table() {
    let Some((figures, _, picture)) = run_demo(&["--as-patient", "--frames", "30"]) else {
        return;
    };
    assert_eq!(figures["shares_delivered"], 2, "{figures}");
    assert!(figures["poses_received"].as_u64() > Some(0), "{figures}");
    // The clinician's head, across the table (left of the picker panel).
    let head = stands_out(&picture, 300..370, 650, 480, 780);
    assert!(
        head >= 40,
        "the clinician's head stands out in only {head} of 70 rows"
    );
    // The panel: light and even where the room behind it is not (its background at the
    // right edge, between the text and the panel's border).
    let light = (120..540)
        .filter(|&y| {
            let [r, g, b] = rgb_at(&picture, 1262, y);
            r > 225 && g > 225 && b > 215
        })
        .count();
    assert!(
        light > 400,
        "the picker panel is not there ({light} of 420 rows)"
    );
}

/// `haven demo --therapy`: the therapist's window runs a short session (heights proposed at 6,
/// accepted by the simulated patient, raised to 9, an announced gust); seen from the patient's
/// seat, the city lies far below a glass floor, under the console.
#[test]
fn the_therapy_demo_runs_a_scene_the_patient_accepted_and_shows_the_drop() {
    let Some((figures, _, picture)) = run_demo(&["--therapy", "--patient-view", "--frames", "30"])
    else {
        return;
    };
    assert_eq!(figures["scene"], "Heights", "{figures}");
    assert_eq!(figures["scene_intensity"], 9, "{figures}");
    // Below the horizon: the ground, green, far down (the consult room would be its walls).
    let green = (480..620)
        .step_by(10)
        .flat_map(|y| (300..1000).step_by(50).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let [r, g, b] = rgb_at(&picture, x, y);
            g > r + 10 && g > b + 10
        })
        .count();
    assert!(green > 60, "the ground below is not there ({green} of 196)");
    // The console: light behind its text, at the top.
    let [r, g, b] = rgb_at(&picture, 890, 30);
    assert!(r > 225 && g > 225 && b > 215, "no console ({r}, {g}, {b})");
}

/// What the therapist sees of the patient's view (a camera at the patient's streamed head pose,
/// in the therapist's mirror of the scene) and what the patient's own window shows, from the
/// same pose (the simulated participant holds still in its seat, looking as the window starts)
/// and the same scene (heights at 6): the scene around differs by little. Compared where
/// neither shows what only one side draws (the therapist's own buttons and avatar, the
/// patient's panels): the left third, between the HUD and the bottom bar.
#[test]
fn the_therapists_picture_of_the_patients_view_matches_the_patients_own() {
    let dir = std::env::temp_dir().join(format!("haven-mirror-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mirror = dir.join("mirror.png");
    let mirror_arg = mirror.display().to_string();
    let common = [
        "--therapy",
        "--hold-seat",
        "--scene",
        "heights:6",
        "--frames",
        "20",
    ];
    let Some((therapist, _, _)) =
        run_demo(&[&common[..], &["--mirror-screenshot", &mirror_arg]].concat())
    else {
        return;
    };
    assert_eq!(therapist["scene"], "Heights", "{therapist}");
    let Some((patient, _, own)) = run_demo(&[&common[..], &["--as-patient"]].concat()) else {
        return;
    };
    assert_eq!(patient["scene"], "Heights", "{patient}");
    assert_eq!(patient["scene_intensity"], 6, "{patient}");
    let seen = load(&mirror);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((seen.width, seen.height), (480, 270));
    let region = ((0.0, 0.3), (0.15, 0.85));
    let (near, _) = region_difference(&seen, &own, region.0, region.1, 8);
    // Measured 0.5; with the avatar head's flattened scale left on the camera (a bug this test
    // found) 8.6.
    #[expect(clippy::print_stderr, reason = "the figure, for the notes")]
    {
        eprintln!("mirror vs the patient's window: {near:.2} levels");
    }
    assert!(
        near < 6.0,
        "the therapist's picture differs from the patient's view by {near:.1} levels a channel"
    );
}

/// `haven demo --therapy --scene-tour DIR`: the therapist's picture of the patient's view (the
/// simulated patient holds still, looking 25° down) of every scene at intensity 0 and at 10.
/// Each pair differs where the scene's threat is (some cell of a grid over the threat's region
/// changes by more than a bound), and only the threat's region is asserted:
/// heights' full railing (a dark wall ahead) gives way to sky and the ground far below;
/// spiders come out of the jar onto the table by the hands; the cabin's seats fill with
/// passengers' heads; the hall fills with listeners above the lectern.
#[test]
fn every_scene_at_0_and_at_10_differs_where_its_threat_is() {
    let dir = std::env::temp_dir().join(format!("haven-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tour = dir.display().to_string();
    // (The window's own last picture is the therapist's console: the therapy demo test checks
    // that one.)
    let Some(_) = run_demo(&["--therapy", "--scene-tour", &tour]) else {
        return;
    };
    // (scene, x range, y range, the least mean difference there, in levels a channel)
    let threats = [
        ("heights", (0.2, 0.8), (0.05, 0.4), 60.0),
        ("spiders", (0.1, 0.9), (0.45, 1.0), 25.0),
        ("flying", (0.28, 0.42), (0.0, 0.07), 30.0),
        ("public-speaking", (0.1, 0.9), (0.0, 0.05), 20.0),
    ];
    let mut failed = Vec::new();
    for (scene, xs, ys, least) in threats {
        let calm = load(&dir.join(format!("{scene}-0.png")));
        let hard = load(&dir.join(format!("{scene}-10.png")));
        assert_eq!((calm.width, calm.height), (480, 270));
        // Drawn at all: not a black picture.
        let lit = mean_rgb(&calm, (0.0, 1.0), (0.0, 1.0));
        assert!(
            lit.iter().sum::<f64>() > 90.0,
            "{scene} at 0 is dark: {lit:?}"
        );
        // The cell that differs most: a spider anywhere on the table counts.
        let (_, there) = region_difference(&calm, &hard, xs, ys, 8);
        #[expect(clippy::print_stderr, reason = "the figure, for the notes")]
        {
            eprintln!("{scene}: 0 against 10 differ by {there:.1} levels where the threat is");
        }
        if there <= least {
            failed.push(format!("{scene}: {there:.1} levels"));
        }
    }
    assert!(
        failed.is_empty(),
        "scenes at 0 and 10 that barely differ where the threat is: {failed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `haven demo --therapy --headless --report DIR`: the scripted session (a prediction, two
/// asks answered, one left, an intensity step, an announced gust, the safe room and back, the
/// end) runs to its end whatever `--frames` says; the simulated patient writes its report into
/// DIR, and the therapist's side keeps a copy (the Bundle, its Consent, a Provenance) because
/// the patient said "save". `haven report DIR/timeline.json --out DIR2` writes the same four
/// files again, byte for byte.
#[test]
fn the_scripted_therapy_session_ends_with_the_patients_report_which_regenerates() {
    use haven_scenes::ratings::{Source, Why};
    let dir = std::env::temp_dir().join(format!("haven-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report_dir = dir.join("patient");
    let Some((figures, _, _)) = run_demo(&[
        "--therapy",
        "--frames",
        "3",
        "--report",
        report_dir.to_str().expect("a UTF-8 path"),
    ]) else {
        return;
    };
    assert_eq!(
        figures["report"],
        serde_json::json!(haven_report::FILES),
        "{figures}"
    );
    assert_eq!(figures["therapist_kept"], 3, "{figures}");
    let report = haven_report::read(&report_dir.join("timeline.json")).expect("reads back");
    assert_eq!(
        (report.subject.clone(), report.started_unix),
        (None, None),
        "anonymous"
    );
    let record = report.record();
    let ratings = record.ratings();
    let suds: Vec<(Why, Option<u8>, Source)> = ratings
        .iter()
        .filter(|r| r.scale == haven_scenes::ratings::Scale::Suds)
        .map(|r| (r.why, r.value, r.source))
        .collect();
    let heights3 = Why::Prediction {
        scene: haven_scenes::SceneId::Heights,
        intensity: 3,
    };
    assert_eq!(
        suds,
        vec![
            (heights3, Some(40), Source::Patient),
            (Why::Demand, Some(55), Source::Patient),
            (Why::Demand, Some(45), Source::Patient),
            (Why::Demand, None, Source::NoAnswer),
            (Why::End, Some(30), Source::Patient),
        ]
    );
    assert_eq!(report.steps.len(), 2, "heights at 3, then at 5");
    assert_eq!(report.steps[0].predicted, Some(40));
    assert_eq!(report.steps[0].peak, Some(55));
    assert_eq!(record.events().len(), 1);
    assert!(record.events()[0].2, "the gust was announced");
    assert_eq!(report.safe_room.len(), 1);
    assert!(
        (4_500..=6_500).contains(&report.safe_room_ms),
        "{} ms in the safe room (the script takes 5 s)",
        report.safe_room_ms
    );
    // The scripted head looked about (down over the edge, to the side): avoidance means
    // something.
    assert!(
        report
            .avoidance
            .on_stimulus
            .is_some_and(|s| s > 0.1 && s < 0.9)
    );
    let again = dir.join("again");
    let out = Command::new(HAVEN)
        .args(["report"])
        .arg(report_dir.join("timeline.json"))
        .arg("--out")
        .arg(&again)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in haven_report::FILES {
        assert_eq!(
            std::fs::read(report_dir.join(name)).expect("written"),
            std::fs::read(again.join(name)).expect("written again"),
            "{name} is the same again"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where the figure's joints and mouth fall on the screen (from `--figure-shots`).
fn point(v: &serde_json::Value) -> (f64, f64) {
    (v[0].as_f64().expect("an x"), v[1].as_f64().expect("a y"))
}

/// The mean colour of the 5×5 pixels around `(x, y)`.
fn around(p: &Picture, (x, y): (f64, f64)) -> [f64; 3] {
    let mut sum = [0.0; 3];
    for dy in -2..=2 {
        for dx in -2..=2 {
            let px = (x as i64 + dx).clamp(0, p.width as i64 - 1) as usize;
            let py = (y as i64 + dy).clamp(0, p.height as i64 - 1) as usize;
            let c = rgb_at(p, px, py);
            for k in 0..3 {
                sum[k] += f64::from(c[k]);
            }
        }
    }
    sum.map(|s| s / 25.0)
}

/// Whether two colours are the same material under different light: their chromaticities
/// (each channel's share of the sum) agree, and neither is far darker.
fn same_material(a: [f64; 3], b: [f64; 3]) -> bool {
    let sum = |c: [f64; 3]| c.iter().sum::<f64>().max(1.0);
    let (sa, sb) = (sum(a), sum(b));
    let chroma = (0..3)
        .map(|k| (a[k] / sa - b[k] / sb).abs())
        .fold(0.0, f64::max);
    chroma < 0.03 && (0.45..2.2).contains(&(sa / sb))
}

/// How far apart two colours look: their chromaticities (which the light changes little),
/// and a little of how much brighter one is (a lit grey sleeve is as bright as the wall).
fn colour_distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    let sum = |c: [f64; 3]| c.iter().sum::<f64>().max(1.0);
    let (sa, sb) = (sum(a), sum(b));
    let chroma: f64 = (0..3).map(|k| (a[k] / sa - b[k] / sb).powi(2)).sum();
    chroma.sqrt() + 0.03 * (sa / sb).ln().abs()
}

/// Pixels in the mouth's box that are the mouth's dark red (the face is never red: an
/// anonymous figure's palette is cool).
fn mouth_pixels(p: &Picture, placed: &serde_json::Value) -> usize {
    let (mx, my) = point(&placed["mouth"]);
    let (hw, hh) = point(&placed["mouth_half"]);
    let xs = (mx - hw).max(0.0) as usize..(mx + hw) as usize;
    let ys = (my - hh).max(0.0) as usize..(my + hh) as usize;
    ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let [r, g, b] = rgb_at(p, x, y);
            r > g + 25 && r > b + 15
        })
        .count()
}

/// The patient's figure has arms that join its torso to its hands, and its mouth is open
/// while it speaks and shut between phrases.
#[test]
fn the_patients_figure_has_arms_and_a_mouth_that_moves_with_its_voice() {
    let dir = std::env::temp_dir().join(format!("haven-figure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    let Some(_) = run_demo(&["--frames", "12", "--figure-shots", &dir_arg]) else {
        return;
    };
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("the figure's JSON"),
        )
        .expect("JSON")
    };
    let (open, closed) = (read("open"), read("closed"));
    let (open_png, closed_png) = (load(&dir.join("open.png")), load(&dir.join("closed.png")));
    // The arms: along each segment (shoulder to elbow, elbow to wrist), wherever it is not in
    // front of the torso (which wears the same clothing), the picture looks more like the
    // clothing the chest shows than like what is beside the arm, a hand's breadth out (the wall,
    // the chair or the table behind it). Beside, not a fixed colour: the anonymous palette is
    // random per session and the light tints it.
    let chest = around(&open_png, point(&open["chest"]));
    let torso: Vec<f64> = (0..4)
        .map(|i| open["torso"][i].as_f64().expect("the torso's box"))
        .collect();
    let off_torso = |(x, y): (f64, f64)| {
        x < torso[0] - 3.0 || x > torso[2] + 3.0 || y < torso[1] - 3.0 || y > torso[3] + 3.0
    };
    for side in 0..2 {
        let joints = [
            point(&open["shoulders"][side]),
            point(&open["elbows"][side]),
            point(&open["hands"][side]),
        ];
        let mut checked = 0;
        for (segment, pair) in ["upper arm", "forearm"].iter().zip(joints.windows(2)) {
            let (a, b) = (pair[0], pair[1]);
            // A segment seen end on (a forearm reaching towards the camera) is hidden by its
            // elbow and hand: only segments 40 px long or more are checked, between their ends.
            let long = (b.0 - a.0).hypot(b.1 - a.1) >= 40.0;
            let points: Vec<(f64, f64)> = (2..=8)
                .filter(|_| long)
                .map(|i| {
                    let t = 0.1 * f64::from(i);
                    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
                })
                .filter(|&p| off_torso(p))
                .collect();
            // A hand's breadth out from the arm, on the side away from the chest.
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len = dx.hypot(dy).max(1.0);
            let mut normal = (-dy / len, dx / len);
            let centre = point(&open["chest"]);
            if normal.0 * (a.0 - centre.0) + normal.1 * (a.1 - centre.1) < 0.0 {
                normal = (-normal.0, -normal.1);
            }
            let on_arm = points
                .iter()
                .filter(|&&(x, y)| {
                    let here = around(&open_png, (x, y));
                    let beside = around(&open_png, (x + normal.0 * 45.0, y + normal.1 * 45.0));
                    colour_distance(here, chest) < colour_distance(here, beside)
                })
                .count();
            assert!(
                on_arm + 1 >= points.len(),
                "side {side}: only {on_arm} of {} points along the {segment} ({a:?} to {b:?}) \
                 off the torso look like the clothing {chest:?}",
                points.len()
            );
            checked += points.len();
        }
        assert!(
            checked >= 4,
            "side {side}: the arm lies in front of the torso; {checked} points to check"
        );
    }
    // (The check tells the figure from the room: the wall beside it is something else.)
    assert!(!same_material(around(&open_png, (150.0, 330.0)), chest));
    // The mouth: open while speaking, shut between phrases.
    assert!(open["mouth_open"].as_f64() > Some(0.5), "{open}");
    assert_eq!(closed["mouth_open"].as_f64(), Some(0.0), "{closed}");
    let (speaking, silent) = (
        mouth_pixels(&open_png, &open),
        mouth_pixels(&closed_png, &closed),
    );
    assert!(
        speaking >= 40 && speaking >= silent * 3,
        "the open mouth shows {speaking} mouth pixels, the shut one {silent}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
