# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Requests the module is not enabled for, or that are not POSTs, are left
# alone: not buffered, not tokenized, no decision recorded.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use lib 't/lib';
use KVCache::Test;

plan tests => 9;

emu_reset();

my $res = Apache::TestRequest::GET('/v1/models');
ok t_cmp($res->code, 200, 'GET through the kvcache balancer served');
ok t_cmp(decision_of($res), '', 'GET: no decision');
ok t_cmp($res->header('X-KVCache-Route') // '', '', 'GET: no KVCACHE_ROUTE');

my $body = chat_body(content => unique_words(30));
$res = post_llm('/off/v1/chat/completions', $body);
ok t_cmp($res->code, 200, 'POST where KVCacheEnable is off: served');
ok t_cmp(decision_of($res), '', 'not enabled: no decision');
ok t_cmp(body_hash_of($res), sha256_hex($body), 'not enabled: same bytes');
ok t_cmp($res->header('X-Kvemu-Served-By') ? 1 : 0, 1,
         'not enabled: balanced to a member');

my $stats = emu_stats();
ok t_cmp($stats->{calls}->{'vllm-a:/tokenize'} // 0, 0, 'nothing tokenized');
ok t_cmp($stats->{calls}->{'controller:/lookup'} // 0, 0, 'nothing looked up');
