//! Delta packs read item by item: the input is tried both as a stored pack (zstd) and as the
//! pack's lines (compressed here). Every item the reader yields is checked (blob digest and size),
//! and a pack that reaches its end record had exactly the counts its header declares.
#![no_main]

use cairn_state_format::{DeltaItem, DeltaReader, Digest};
use libfuzzer_sys::fuzz_target;

fn read_all(pack: &[u8]) {
    let Ok(mut reader) = DeltaReader::new(pack) else {
        return;
    };
    let header = reader.header().clone();
    let (mut puts, mut removes) = (0u64, 0u64);
    loop {
        match reader.next_item() {
            Ok(Some(DeltaItem::Put { entry, blob })) => {
                assert_eq!(Digest::of(&blob), entry.blob);
                assert_eq!(blob.len() as u64, entry.size);
                assert_eq!(removes, 0, "puts come before removes");
                puts += 1;
            }
            Ok(Some(DeltaItem::Remove(_))) => removes += 1,
            Ok(None) => {
                assert_eq!((puts, removes), (header.puts, header.removes));
                assert!(matches!(reader.next_item(), Ok(None)));
                return;
            }
            Err(_) => return,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    read_all(data);
    read_all(&zstd::bulk::compress(data, 1).expect("in-memory compression"));
});
