//! The gateway's request parsing: any bytes as the body of `POST /v2/models/{name}/infer`
//! (the Open Inference Protocol v2), through `aigis_runtime::protocol::split` and
//! `input_tensor` for every input, exactly as `aigis serve` reads a request. The first
//! two bytes choose `Inference-Header-Content-Length` (the binary tensor extension): 0
//! for none (the whole rest is JSON), else the JSON header's length. A refusal is fine; a
//! panic, an allocation past `-rss_limit_mb`/`-malloc_limit_mb` or a run past `-timeout`
//! is a crash. Each tensor made holds as many elements as its shape says.
#![no_main]

use aigis_runtime::protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let header_len = match usize::from(u16::from_le_bytes(*head)) {
        0 => body.len(),
        n => n.min(body.len()),
    };
    let Ok((request, parts)) = protocol::split(body, header_len) else {
        return;
    };
    assert_eq!(parts.len(), request.inputs.len());
    for (i, (input, part)) in request.inputs.iter().zip(&parts).enumerate() {
        if let Ok(tensor) = protocol::input_tensor(input, i, *part) {
            let count: usize = tensor.tensor.shape().iter().product();
            assert_eq!(tensor.tensor.data().len(), count);
            assert_eq!(tensor.name, input.name);
        }
    }
});
