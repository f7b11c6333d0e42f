# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Whatever the cache plane does, the request is served by normal balancing.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use Time::HiRes qw(time);
use lib 't/lib';
use KVCache::Test;

plan tests => 42;

my $loc = 'LocalCPUBackend';
my %members = map { $_ => 1 } qw(vllm-a vllm-b vllm-c);

# Sends a fresh chat request and checks it was served, untouched, by normal
# balancing for the expected reason.  Returns the seconds it took.
sub expect_fallback {
    my ($reason, $what, %args) = @_;
    my $path = $args{path} // '/v1/chat/completions';
    my $body = $args{body} // chat_body(content => unique_words(20));
    my $t0 = time;
    my $res = post_llm($path, $body);
    my $took = time - $t0;
    ok t_cmp($res->code, 200, "$what: served");
    ok t_cmp(decision_of($res), "fallback:$reason", "$what: decision");
    ok t_cmp(($members{served_by($res)} && body_hash_of($res) eq
              sha256_hex($body)) ? 1 : 0, 1,
             "$what: a member got the exact body");
    return $took;
}

emu_reset();

# The controller names instances that are not members of the balancer.
emu_config(lookup_override => { layout_info => {
    'vllm-zzz' => [$loc, 2048] } });
expect_fallback('unknown-instance', 'unknown instance id');

# The best match is a disabled member (status=+D on vllm-b there).
emu_config(lookup_override => { layout_info => {
    'vllm-b' => [$loc, 2048] } });
expect_fallback('member-unusable', 'member disabled',
                path => '/bdisabled/v1/chat/completions');

# A match of 0 tokens is no preference.
emu_config(lookup_override => { layout_info => { 'vllm-a' => [$loc, 0] } });
expect_fallback('below-min-match', 'zero match');

# Nothing cached anywhere.
emu_config(lookup_override => { layout_info => {} });
expect_fallback('lookup-empty', 'empty layout_info');
emu_config(lookup_override => undef);

# Controller errors, garbage and a dropped connection.
emu_fault(role => 'controller', path => '/lookup', status => 500);
expect_fallback('lookup-error', 'lookup 500');
emu('/_emu/clear_faults', {});
emu_fault(role => 'controller', path => '/lookup', garbage => JSON::PP::true);
expect_fallback('lookup-error', 'lookup garbage');
emu('/_emu/clear_faults', {});
emu_fault(role => 'controller', path => '/lookup', close => JSON::PP::true);
expect_fallback('lookup-error', 'lookup connection dropped');
emu('/_emu/clear_faults', {});

# A hung controller costs at most the lookup budget (300ms here).
emu_fault(role => 'controller', path => '/lookup', delay_ms => 3000);
my $took = expect_fallback('lookup-timeout', 'lookup hung');
t_debug("hung lookup: request took ${took}s");
ok t_cmp($took < 1.0, 1, "hung lookup cut off by its budget (${took}s)");
emu('/_emu/clear_faults', {});

# Tokenizer failures.
emu_fault(role => 'vllm-a', path => '/tokenize', status => 500);
expect_fallback('tokenize-error', 'tokenize 500');
emu('/_emu/clear_faults', {});
emu_fault(role => 'vllm-a', path => '/tokenize', delay_ms => 3000);
$took = expect_fallback('tokenize-timeout', 'tokenize hung');
ok t_cmp($took < 2.0, 1, "hung tokenizer cut off by its budget (${took}s)");
emu('/_emu/clear_faults', {});

# Bodies that cannot be routed.
expect_fallback('invalid-json', 'invalid JSON',
                body => '{"messages": [ {"role": "user", "content": "x"');
expect_fallback('empty-prompt', 'empty prompt',
                body => '{"prompt": "   ", "messages": []}');
expect_fallback('body-too-large', 'body over KVCacheMaxBodySize',
                path => '/cap/v1/chat/completions',
                body => chat_body(content => unique_words(300)));

my $stats = emu_stats();
ok t_cmp($stats->{calls}->{'controller:/lookup'} > 0, 1,
         'the controller was consulted where it could be');
