# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Requests land on the member holding the most cached tokens of the prompt.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use lib 't/lib';
use KVCache::Test;

plan tests => 28;

my $loc = 'LocalCPUBackend';

emu_reset();

# The best match is not the first entry of layout_info: the module must take
# the largest count, not the first key (production-stack's old bug).
emu_config(lookup_override => { layout_info => {
    'vllm-a' => [$loc, 256], 'vllm-c' => [$loc, 1024], 'vllm-b' => [$loc, 512],
} });
my $res = post_llm('/v1/chat/completions',
                   chat_body(content => unique_words(1100)));
ok t_cmp($res->code, 200, 'chat request served');
ok t_cmp(served_by($res), 'vllm-c', 'served by the member with most tokens');
ok t_cmp(decision_of($res), 'routed', 'decision is routed');
ok t_cmp($res->header('X-KVCache-Route'), 'vllm-c', 'KVCACHE_ROUTE');
ok t_cmp($res->header('X-KVCache-Matched'), 1024, 'KVCACHE_MATCHED_TOKENS');
ok t_cmp($res->header('X-KVCache-Prompt-Tokens') > 1100, 1,
         'KVCACHE_PROMPT_TOKENS counts the tokenized prompt');

# The Pixiu/mock object form {"0": location, "1": n}.
emu_config(lookup_override => { layout_info => {
    'vllm-b' => { 0 => $loc, 1 => 768 }, 'vllm-a' => { 0 => $loc, 1 => 256 },
} });
$res = post_llm('/v1/completions',
                completion_body(prompt => unique_words(800)));
ok t_cmp(served_by($res), 'vllm-b', 'object form: completion routed to b');
ok t_cmp($res->header('X-KVCache-Matched'), 768, 'object form count read');

# A controller cannot claim more of a prompt than the prompt.  (Long
# enough that the claimed match, not the members' queues, decides.)
emu_config(lookup_override => { layout_info => {
    'vllm-c' => [$loc, 999999] } });
$res = post_llm('/v1/completions',
                completion_body(prompt => unique_words(800, 'clamp')));
ok t_cmp($res->header('X-KVCache-Matched'),
         $res->header('X-KVCache-Prompt-Tokens'),
         'a match beyond the prompt counts as the whole prompt');
emu_config(lookup_override => undef);

# The real path: the controller's prefix index (256-token chunks) learns
# what each instance served.  Seed a conversation on vllm-b, continue it.
emu_reset();
my @turn1 = (
    { role => 'system', content => unique_words(300, 'sys') },
    { role => 'user',   content => unique_words(20, 'q') },
);
emu_seed(instance => 'vllm-b',
         body => { model => 'demo-model', messages => \@turn1 });
my @turn2 = (@turn1, { role => 'assistant', content => 'an answer' },
             { role => 'user', content => unique_words(10, 'q') });
$res = post_llm('/v1/chat/completions',
                chat_body(model => 'demo-model', messages => \@turn2));
ok t_cmp(served_by($res), 'vllm-b', 'continued conversation routed to b');
ok t_cmp(decision_of($res), 'routed', 'routed through the real index');
ok t_cmp($res->header('X-KVCache-Matched') >= 256, 1,
         'at least one whole chunk matched');
ok t_cmp($res->header('X-Kvemu-Cached-Tokens'),
         $res->header('X-KVCache-Matched'),
         'the backend found as many cached tokens as the controller said');

# The same chat continued again: now vllm-b holds the longer prefix too.
my @turn3 = (@turn2, { role => 'assistant', content => 'more' },
             { role => 'user', content => unique_words(5, 'q') });
$res = post_llm('/v1/chat/completions',
                chat_body(model => 'demo-model', messages => \@turn3));
ok t_cmp(served_by($res), 'vllm-b', 'third turn stays on b');

# Completion prompts work the same way, on another instance.
emu_reset();
my $doc = unique_words(600, 'doc');
emu_seed(instance => 'vllm-c', body => { prompt => $doc });
$res = post_llm('/v1/completions',
                completion_body(prompt => "$doc " . unique_words(5)));
ok t_cmp(served_by($res), 'vllm-c', 'completion routed by shared prefix');
ok t_cmp($res->header('X-KVCache-Matched') >= 512, 1,
         'two whole chunks matched');

# A second identical request is tokenized from the token cache.
emu_reset();
my $body = chat_body(content => unique_words(50));
post_llm('/v1/chat/completions', $body);
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 1, 'first request tokenized');
$res = post_llm('/v1/chat/completions', $body);
ok t_cmp($res->code, 200, 'second request served');
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 1,
         'second identical request: no second /tokenize');
ok t_cmp(emu_calls('controller', '/lookup'), 2,
         'but the lookup is always live');

# Without the token cache, every request is tokenized.
post_llm('/nocache/v1/chat/completions', $body);
post_llm('/nocache/v1/chat/completions', $body);
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 3, 'KVCacheTokenCache Off');

# The default model: a body without "model" is keyed as KVCacheDefaultModel,
# so it shares the token-cache entry of an explicit "demo-model" body...
emu_reset();
my $words = unique_words(30);
post_llm('/v1/chat/completions', chat_body(content => $words));
$res = post_llm('/v1/chat/completions',
                chat_body(content => $words, model => 'demo-model'));
ok t_cmp(decision_of($res) =~ /^(routed|fallback:)/ ? 1 : 0, 1,
         'explicit model processed');
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 1,
         'no model = KVCacheDefaultModel (same cache entry)');
# ...but not the entry of another model.
post_llm('/v1/chat/completions',
         chat_body(content => $words, model => 'other-model'));
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 2, 'another model, another key');

# Roles are part of what is tokenized, so they are part of the key.
post_llm('/v1/chat/completions', kv_json()->encode({ messages => [
    { role => 'system', content => $words } ] }));
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 3,
         'same text under another role is tokenized again');

# Keep-alive: sequential requests reuse pooled upstream connections.
emu_reset();
my $n = 30;
for my $i (1 .. $n) {
    post_llm('/v1/chat/completions', chat_body(content => unique_words(8)));
}
my $stats = emu_stats();
my $lookups = $stats->{calls}->{'controller:/lookup'} // 0;
my $conns = $stats->{connections}->{controller} // 0;
t_debug("$n requests: $lookups lookups over $conns controller connections");
ok t_cmp($lookups, $n, 'one lookup per request');
ok t_cmp($conns <= 4, 1, "far fewer controller connections than requests "
         . "($conns for $n)");
ok t_cmp($stats->{calls}->{'vllm-a:/tokenize'}, $n,
         'one tokenize per new prompt');
