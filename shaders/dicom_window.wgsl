// Haven: a shared image on the wall display.
//
// Grey images (DICOM after its Modality LUT, one f32 a texel) are windowed here with the
// DICOM PS3.3 C.11.2.1.2.1 linear VOI function, so the clinician's window/level changes are a
// uniform update, not a new texture. Colour images are shown as they are. Zoom and pan map
// the quad's UVs to a part of the image.

#import bevy_pbr::forward_io::VertexOutput

struct Params {
    // x: window centre, y: window width, z: 1 to invert (MONOCHROME1), w: 1 for colour.
    window: vec4<f32>,
    // xy: the image point at the quad's centre (0..1), z: zoom (1 shows it all), w: unused.
    view: vec4<f32>,
};

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> params: Params;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var values: texture_2d<f32>;

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    let dims = vec2<f32>(textureDimensions(values));
    let uv = (in.uv - vec2(0.5)) / max(params.view.z, 1e-3) + params.view.xy;
    if (any(uv < vec2(0.0)) || any(uv >= vec2(1.0))) {
        return vec4(0.02, 0.02, 0.025, 1.0);
    }
    let texel = textureLoad(values, vec2<i32>(uv * dims), 0);
    if (params.window.w > 0.5) {
        return vec4(texel.rgb, 1.0);
    }
    let c = params.window.x;
    let w = max(params.window.y, 1.0);
    // y = ((x - (c - 0.5)) / (w - 1) + 0.5), clamped to the output range.
    var y = clamp((texel.r - (c - 0.5)) / max(w - 1.0, 1e-3) + 0.5, 0.0, 1.0);
    if (params.window.z > 0.5) {
        y = 1.0 - y;
    }
    // The windowed value is a display value; the renderer works in linear light.
    return vec4(vec3(pow(y, 2.2)), 1.0);
}
