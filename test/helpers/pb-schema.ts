/**
 * The protobuf schema of the etcd calls the lean transport makes (KV/Txn, KV/Range, Watch/Watch,
 * Lease), for protobufjs: the oracle the hand-written codec (store/grpc/*-codec.ts) is tested
 * against (test/unit/pb-codec.test.ts). Field numbers as in etcd's rpc.proto and kv.proto.
 */
import protobuf from 'protobufjs'

const PROTO = `
syntax = "proto3";
package etcdserverpb;
message ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4; }
message KeyValue { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3; int64 version = 4; bytes value = 5; int64 lease = 6; }
message RangeRequest {
  enum SortOrder { None = 0; Ascend = 1; Descend = 2; }
  enum SortTarget { Key = 0; Version = 1; Create = 2; Mod = 3; Value = 4; }
  bytes key = 1; bytes range_end = 2; int64 limit = 3; int64 revision = 4;
  SortOrder sort_order = 5; SortTarget sort_target = 6; bool serializable = 7; bool keys_only = 8; bool count_only = 9;
  int64 min_mod_revision = 10; int64 max_mod_revision = 11; int64 min_create_revision = 12; int64 max_create_revision = 13;
}
message RangeResponse { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; int64 count = 4; }
message PutRequest { bytes key = 1; bytes value = 2; int64 lease = 3; bool prev_kv = 4; bool ignore_value = 5; bool ignore_lease = 6; }
message PutResponse { ResponseHeader header = 1; KeyValue prev_kv = 2; }
message DeleteRangeRequest { bytes key = 1; bytes range_end = 2; bool prev_kv = 3; }
message DeleteRangeResponse { ResponseHeader header = 1; int64 deleted = 2; repeated KeyValue prev_kvs = 3; }
message RequestOp {
  oneof request { RangeRequest request_range = 1; PutRequest request_put = 2; DeleteRangeRequest request_delete_range = 3; TxnRequest request_txn = 4; }
}
message ResponseOp {
  oneof response { RangeResponse response_range = 1; PutResponse response_put = 2; DeleteRangeResponse response_delete_range = 3; TxnResponse response_txn = 4; }
}
message Compare {
  enum CompareResult { Equal = 0; Greater = 1; Less = 2; NotEqual = 3; }
  enum CompareTarget { Version = 0; Create = 1; Mod = 2; Value = 3; Lease = 4; }
  CompareResult result = 1; CompareTarget target = 2; bytes key = 3;
  oneof target_union { int64 version = 4; int64 create_revision = 5; int64 mod_revision = 6; bytes value = 7; int64 lease = 8; }
  bytes range_end = 64;
}
message TxnRequest { repeated Compare compare = 1; repeated RequestOp success = 2; repeated RequestOp failure = 3; }
message TxnResponse { ResponseHeader header = 1; bool succeeded = 2; repeated ResponseOp responses = 3; }
message Event { enum EventType { Put = 0; Delete = 1; } EventType type = 1; KeyValue kv = 2; KeyValue prev_kv = 3; }
message WatchCreateRequest {
  enum FilterType { Noput = 0; Nodelete = 1; }
  bytes key = 1; bytes range_end = 2; int64 start_revision = 3; bool progress_notify = 4;
  repeated FilterType filters = 5; bool prev_kv = 6; int64 watch_id = 7; bool fragment = 8;
}
message WatchCancelRequest { int64 watch_id = 1; }
message WatchProgressRequest {}
message WatchRequest {
  oneof request_union { WatchCreateRequest create_request = 1; WatchCancelRequest cancel_request = 2; WatchProgressRequest progress_request = 3; }
}
message WatchResponse {
  ResponseHeader header = 1; int64 watch_id = 2; bool created = 3; bool canceled = 4; int64 compact_revision = 5;
  string cancel_reason = 6; bool fragment = 7; repeated Event events = 11;
}
message LeaseGrantRequest { int64 TTL = 1; int64 ID = 2; }
message LeaseGrantResponse { ResponseHeader header = 1; int64 ID = 2; int64 TTL = 3; string error = 4; }
message LeaseRevokeRequest { int64 ID = 1; }
message LeaseKeepAliveResponse { ResponseHeader header = 1; int64 ID = 2; int64 TTL = 3; }
message LeaseTimeToLiveResponse { ResponseHeader header = 1; int64 ID = 2; int64 TTL = 3; int64 grantedTTL = 4; repeated bytes keys = 5; }
`

const root = protobuf.parse(PROTO, { keepCase: true }).root
export const TxnRequest = root.lookupType('etcdserverpb.TxnRequest')
export const TxnResponse = root.lookupType('etcdserverpb.TxnResponse')
export const RangeRequest = root.lookupType('etcdserverpb.RangeRequest')
export const RangeResponse = root.lookupType('etcdserverpb.RangeResponse')
export const WatchRequest = root.lookupType('etcdserverpb.WatchRequest')
export const WatchResponse = root.lookupType('etcdserverpb.WatchResponse')
export const LeaseGrantRequest = root.lookupType('etcdserverpb.LeaseGrantRequest')
export const LeaseRevokeRequest = root.lookupType('etcdserverpb.LeaseRevokeRequest')
export const LeaseGrantResponse = root.lookupType('etcdserverpb.LeaseGrantResponse')
export const LeaseKeepAliveResponse = root.lookupType('etcdserverpb.LeaseKeepAliveResponse')
export const LeaseTimeToLiveResponse = root.lookupType('etcdserverpb.LeaseTimeToLiveResponse')

/** etcd3 (grpc proto-loader) decodes with these: int64 as strings, enums as names, defaults filled in. */
export const AS_ETCD3: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true }
