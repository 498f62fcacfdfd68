package kb

import (
	"testing"
)

// benchQuestions are typical questions, one set per language.
var benchQuestions = map[string][]string{
	"zh": {"144小时过境免签可以停留多久？", "五星卡可以用来做什么", "港澳居民可以在内地换证吗", "明天北京天气怎么样"},
	"en": {"How many ports offer 144-hour visa-free transit?", "what can the five-star card be used for", "how do I contact 12367", "what's the weather in Beijing tomorrow"},
	"fr": {"Combien de temps puis-je rester en transit sans visa ?", "Qu'est-ce que la carte cinq étoiles ?", "comment contacter le 12367", "quel temps fait-il à Pékin"},
	"es": {"¿Cuántos días puedo quedarme en Hainan sin visado?", "¿Qué es el visado en puerto de entrada?", "cómo contactar al 12367", "qué tiempo hace en Pekín"},
	"ru": {"Сколько длится безвизовый транзит 144 часа?", "Что такое карта «пять звёзд»?", "как связаться с 12367", "какая погода в Пекине"},
	"ar": {"ما هي مدة العبور بدون تأشيرة 144 ساعة؟", "ما هي بطاقة النجوم الخمس؟", "كيف أتصل بالرقم 12367", "كيف الطقس في بكين"},
}

// BenchmarkAsk measures answer latency per language (run with -cpu 1 for one core).
func BenchmarkAsk(b *testing.B) {
	e := testEngine(b)
	for _, lang := range Langs {
		qs := benchQuestions[lang]
		b.Run(lang, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := e.Ask(Query{Text: qs[i%len(qs)]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuild measures building the engine (index and vocabularies) from the embedded files.
func BenchmarkBuild(b *testing.B) {
	entries, err := Load(Embedded())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e, err := New(entries, 0)
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}
