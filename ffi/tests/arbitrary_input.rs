//! No input crashes the host: arbitrary bytes (invalid UTF-8, broken and odd JSON, huge lengths of nothing) given
//! to every entry point that takes text never panic (`COSELL_STATUS_PANIC`), never write an out-param on failure,
//! and leave the engine usable. Calls go through the same `extern "C"` functions a C host calls.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_void};
use std::ptr;

use cosell::cosell_status;
use proptest::prelude::*;

// The handles are opaque to C, and to this test: pointers to nothing it knows.
#[allow(non_camel_case_types)]
type cosell_mapping = c_void;
#[allow(non_camel_case_types)]
type cosell_engine = c_void;
#[allow(non_camel_case_types)]
type cosell_plan = c_void;

unsafe extern "C" {
    fn cosell_mapping_builtin(
        name: *const c_char,
        out: *mut *mut cosell_mapping,
        err: *mut c_char,
        len: usize,
    ) -> cosell_status;
    fn cosell_mapping_from_text(
        text: *const c_char,
        len: usize,
        format: u32,
        out: *mut *mut cosell_mapping,
        err: *mut c_char,
        err_len: usize,
    ) -> cosell_status;
    fn cosell_mapping_free(m: *mut cosell_mapping);
    fn cosell_engine_open(
        path: *const c_char,
        mapping: *const cosell_mapping,
        out: *mut *mut cosell_engine,
        err: *mut c_char,
        len: usize,
    ) -> cosell_status;
    fn cosell_engine_free(e: *mut cosell_engine);
    fn cosell_engine_plan(
        e: *mut cosell_engine,
        r: *const c_char,
        r_len: usize,
        c: *const c_char,
        c_len: usize,
        out: *mut *mut cosell_plan,
    ) -> cosell_status;
    fn cosell_engine_commit(
        e: *mut cosell_engine,
        plan: *const cosell_plan,
        results: *const c_char,
        len: usize,
        report: *mut *mut c_char,
    ) -> cosell_status;
    fn cosell_engine_audit(
        e: *mut cosell_engine,
        query: *const c_char,
        len: usize,
        out: *mut *mut c_char,
    ) -> cosell_status;
    fn cosell_engine_last_error(e: *const cosell_engine) -> *const c_char;
    fn cosell_plan_free(p: *mut cosell_plan);
    fn cosell_plan_from_json(
        json: *const c_char,
        len: usize,
        out: *mut *mut cosell_plan,
        err: *mut c_char,
        err_len: usize,
    ) -> cosell_status;
    fn cosell_string_free(s: *mut c_char);
}

const REFERRAL: &str = r#"{"id": "r-1", "name": "Contoso", "status": "Active", "substatus": "Accepted",
    "details": {"dealValue": 1000, "currency": "USD", "notes": "hi"}, "eTag": "\"1\""}"#;
const OPPORTUNITY: &str = r#"{"attributes": {"type": "Opportunity"}, "Id": "006A", "Name": "Contoso",
    "Amount": 1000.0, "CurrencyIsoCode": "USD", "Description": "hi", "StageName": "Qualification",
    "Sync_with_Partner_Center__c": true, "Referral_Identifier__c": "r-1",
    "LastModifiedDate": "2026-11-01T00:00:00.000+0000"}"#;

/// A sentinel for out-params that must stay untouched on failure.
fn sentinel<T>() -> *mut T {
    ptr::dangling_mut()
}

struct Fixture {
    mapping: *mut cosell_mapping,
    engine: *mut cosell_engine,
}

impl Fixture {
    fn new() -> Fixture {
        let mut mapping = ptr::null_mut();
        let mut engine = ptr::null_mut();
        // SAFETY: valid NUL-terminated strings and out-params.
        unsafe {
            assert_eq!(
                cosell_mapping_builtin(
                    c"salesforce".as_ptr(),
                    &raw mut mapping,
                    ptr::null_mut(),
                    0
                ),
                cosell_status::Ok
            );
            assert_eq!(
                cosell_engine_open(
                    c":memory:".as_ptr(),
                    mapping,
                    &raw mut engine,
                    ptr::null_mut(),
                    0
                ),
                cosell_status::Ok
            );
        }
        Fixture { mapping, engine }
    }

    /// Plans the good pair: the engine still works.
    fn assert_usable(&self) {
        let mut plan = ptr::null_mut();
        // SAFETY: live engine, valid texts and out-param.
        let status = unsafe {
            cosell_engine_plan(
                self.engine,
                REFERRAL.as_ptr().cast(),
                REFERRAL.len(),
                OPPORTUNITY.as_ptr().cast(),
                OPPORTUNITY.len(),
                &raw mut plan,
            )
        };
        assert_eq!(status, cosell_status::Ok, "{}", self.last_error());
        // SAFETY: returned by the plan call.
        unsafe { cosell_plan_free(plan) };
    }

    fn last_error(&self) -> String {
        // SAFETY: live engine; the text is valid until the next call.
        unsafe { CStr::from_ptr(cosell_engine_last_error(self.engine)) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: both are live and freed once.
        unsafe {
            cosell_engine_free(self.engine);
            cosell_mapping_free(self.mapping);
        }
    }
}

/// Bytes that are often almost JSON: fragments of the good records, mutated.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (0..REFERRAL.len(), any::<u8>(), 0..REFERRAL.len()).prop_map(|(at, b, cut)| {
            let mut v = REFERRAL.as_bytes().to_vec();
            v[at] = b;
            v.truncate(cut.max(at + 1));
            v
        }),
        "[\\[\\]{}\":,0-9a-z\\\\ ]{0,200}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn records_never_panic(referral in noise(), crm in noise(), absent in 0u8..3) {
        let f = Fixture::new();
        let mut plan: *mut cosell_plan = sentinel();
        let (r, c) = (referral.as_ptr().cast::<c_char>(), crm.as_ptr().cast::<c_char>());
        let (r, c) = match absent {
            0 => (ptr::null(), c),
            1 => (r, ptr::null()),
            _ => (r, c),
        };
        // SAFETY: the texts are readable for their lengths (or NULL); `plan` is writable.
        let status = unsafe { cosell_engine_plan(f.engine, r, referral.len(), c, crm.len(), &raw mut plan) };
        prop_assert_ne!(status, cosell_status::Panic);
        if status == cosell_status::Ok {
            // SAFETY: a plan the call returned.
            unsafe { cosell_plan_free(plan) };
        } else {
            prop_assert_eq!(plan, sentinel::<cosell_plan>());
            prop_assert!(!f.last_error().is_empty());
        }
        f.assert_usable();
    }

    #[test]
    fn results_queries_and_plan_json_never_panic(text in noise()) {
        let f = Fixture::new();
        let mut plan = ptr::null_mut();
        // SAFETY: live engine, valid texts, writable out-params.
        unsafe {
            prop_assert_eq!(
                cosell_engine_plan(f.engine, REFERRAL.as_ptr().cast(), REFERRAL.len(),
                    OPPORTUNITY.as_ptr().cast(), OPPORTUNITY.len(), &raw mut plan),
                cosell_status::Ok
            );
            let mut out: *mut c_char = sentinel();
            let status = cosell_engine_commit(f.engine, plan, text.as_ptr().cast(), text.len(), &raw mut out);
            prop_assert_ne!(status, cosell_status::Panic);
            if status == cosell_status::Ok { cosell_string_free(out) } else { prop_assert_eq!(out, sentinel::<c_char>()) }
            let mut rows: *mut c_char = sentinel();
            let status = cosell_engine_audit(f.engine, text.as_ptr().cast(), text.len(), &raw mut rows);
            prop_assert_ne!(status, cosell_status::Panic);
            if status == cosell_status::Ok { cosell_string_free(rows) } else { prop_assert_eq!(rows, sentinel::<c_char>()) }
            let mut back: *mut cosell_plan = sentinel();
            let status = cosell_plan_from_json(text.as_ptr().cast(), text.len(), &raw mut back, ptr::null_mut(), 0);
            prop_assert_ne!(status, cosell_status::Panic);
            if status == cosell_status::Ok { cosell_plan_free(back) } else { prop_assert_eq!(back, sentinel::<cosell_plan>()) }
            let mut m: *mut cosell_mapping = sentinel();
            let mut err = [0 as c_char; 64];
            let status = cosell_mapping_from_text(text.as_ptr().cast(), text.len(), u32::from(text.len() % 3 == 0), &raw mut m, err.as_mut_ptr(), err.len());
            prop_assert_ne!(status, cosell_status::Panic);
            if status == cosell_status::Ok { cosell_mapping_free(m) } else {
                prop_assert_eq!(m, sentinel::<cosell_mapping>());
                prop_assert!(err.contains(&0), "the error buffer is NUL-terminated");
            }
            cosell_plan_free(plan);
        }
        f.assert_usable();
    }
}
