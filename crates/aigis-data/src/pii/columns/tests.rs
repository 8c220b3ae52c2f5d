use super::*;

const GIVEN: [&str; 24] = [
    "James", "Maria", "Robert", "Linda", "Miguel", "Kevon", "Aisha", "Wei", "Fatima", "Jose",
    "Emily", "Darnell", "Sofia", "Ahmed", "Keisha", "Brandon", "Olga", "Tyrone", "Latoya",
    "Giovanni", "Priya", "Jamal", "Hannah", "Luis",
];
const FAMILY: [&str; 23] = [
    "Smith",
    "Hernandez",
    "Dixon",
    "Nguyen",
    "Johnson",
    "Garcia",
    "Williams",
    "Okafor",
    "Brown",
    "Rossi",
    "Kowalski",
    "Patel",
    "Kim",
    "Jackson",
    "Lopez",
    "Davis",
    "Schmidt",
    "Murphy",
    "Washington",
    "Rivera",
    "Cohen",
    "Martin",
    "Moore",
];

/// `n` values made from the lists: distinct pairs (24 × 23 = 552 of them).
fn full_names(n: usize, f: impl Fn(&str, &str) -> String) -> Vec<String> {
    (0..n)
        .map(|i| {
            f(
                GIVEN[i % GIVEN.len()],
                FAMILY[(i / GIVEN.len() + i) % FAMILY.len()],
            )
        })
        .collect()
}

fn judge(name: &str, values: &[String]) -> Option<(PiiKind, f64)> {
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    classify(name, &refs).map(|c| (c.kind, c.confidence))
}

fn kind(name: &str, values: &[String]) -> Option<PiiKind> {
    judge(name, values).map(|(k, _)| k)
}

/// `n` values cycling through `list` (a categorical column).
fn cycle(list: &[&str], n: usize) -> Vec<String> {
    (0..n)
        .map(|i| list[(i * 7 + i / 3) % list.len()].to_owned())
        .collect()
}

#[test]
fn full_names_by_header_and_by_values() {
    let lower = full_names(400, |g, f| {
        format!("{} {}", g.to_lowercase(), f.to_lowercase())
    });
    let title = full_names(400, |g, f| format!("{g} {f}"));
    let comma = full_names(400, |g, f| {
        format!("{}, {}", f.to_uppercase(), g.to_uppercase())
    });
    for (header, values) in [
        ("name", &lower),
        ("Full Name", &title),
        ("customer_name", &comma),
        ("nombre_completo", &title),
        ("imie_nazwisko", &title),
        ("first_last", &lower),
        ("c1", &title),
        ("c1", &lower),
        ("x", &comma),
    ] {
        assert_eq!(kind(header, values), Some(PiiKind::PersonName), "{header}");
    }
    let (_, by_header) = judge("name", &title).unwrap();
    let (_, by_values) = judge("c1", &title).unwrap();
    assert!(by_header > by_values, "{by_header} {by_values}");
}

#[test]
fn given_and_family_names() {
    let given = cycle(&GIVEN, 150);
    let family = cycle(&FAMILY, 150);
    let lower: Vec<String> = given.iter().map(|g| g.to_lowercase()).collect();
    assert_eq!(kind("first", &lower), Some(PiiKind::GivenName));
    assert_eq!(kind("prénom", &given), Some(PiiKind::GivenName));
    assert_eq!(kind("Vorname", &given), Some(PiiKind::GivenName));
    assert_eq!(kind("first_name", &given), Some(PiiKind::GivenName));
    assert_eq!(kind("col_7", &given), Some(PiiKind::GivenName));
    assert_eq!(kind("last", &family), Some(PiiKind::FamilyName));
    assert_eq!(kind("Nachname", &family), Some(PiiKind::FamilyName));
    assert_eq!(kind("apellido", &family), Some(PiiKind::FamilyName));
    let double = full_names(150, |a, b| {
        format!("{b} {}", FAMILY[a.len() % FAMILY.len()])
    });
    assert_eq!(kind("apellidos", &double), Some(PiiKind::FamilyName));
    assert_eq!(kind("last_name", &double), Some(PiiKind::FamilyName));
    assert_eq!(kind("v2", &family), Some(PiiKind::FamilyName));
    // Polish and German names the US census lists mostly miss: the header carries them.
    let foreign = cycle(
        &[
            "Wojciech",
            "Małgorzata",
            "Grzegorz",
            "Agnieszka",
            "Przemysław",
            "Katarzyna",
            "Jürgen",
            "Sönke",
            "Anneliese",
            "Dieter",
            "Wolfgang",
            "Ursula",
        ],
        100,
    );
    assert_eq!(kind("imię", &foreign), Some(PiiKind::GivenName));
    assert_eq!(
        kind("c4", &foreign),
        None,
        "no header, mostly unknown: not judged"
    );
    // Scripts the Latin lists cannot hold: the header carries them.
    let cyrillic = cycle(
        &[
            "Иван",
            "Ольга",
            "Сергей",
            "Наталья",
            "Дмитрий",
            "Елена",
            "Алексей",
            "Мария",
            "Андрей",
            "Татьяна",
            "Михаил",
            "Анна",
        ],
        100,
    );
    assert_eq!(kind("Имя", &cyrillic), Some(PiiKind::GivenName));
    assert_eq!(kind("c4", &cyrillic), None);
    let han = cycle(
        &[
            "王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强", "周杰", "吴芳", "徐明",
            "孙燕",
        ],
        100,
    );
    assert_eq!(kind("姓名", &han), Some(PiiKind::PersonName));
    assert_eq!(kind("c4", &han), None);
}

#[test]
fn categories_cities_words_and_numbers_are_not_names() {
    // UCI Adult's categorical columns.
    let adult: [(&str, &[&str]); 5] = [
        (
            "occupation",
            &[
                "Tech-support",
                "Craft-repair",
                "Other-service",
                "Sales",
                "Exec-managerial",
                "Prof-specialty",
                "Handlers-cleaners",
                "Machine-op-inspct",
                "Adm-clerical",
                "Farming-fishing",
                "Transport-moving",
                "Priv-house-serv",
                "Protective-serv",
                "Armed-Forces",
            ],
        ),
        (
            "native-country",
            &[
                "United-States",
                "Cambodia",
                "England",
                "Puerto-Rico",
                "Canada",
                "Germany",
                "India",
                "Japan",
                "Greece",
                "South",
                "China",
                "Cuba",
                "Iran",
                "Honduras",
                "Philippines",
                "Italy",
                "Poland",
                "Jamaica",
                "Vietnam",
                "Mexico",
                "Portugal",
                "Ireland",
                "France",
                "Dominican-Republic",
                "Laos",
                "Ecuador",
                "Taiwan",
                "Haiti",
                "Columbia",
                "Hungary",
                "Guatemala",
                "Nicaragua",
                "Scotland",
                "Thailand",
                "Yugoslavia",
                "El-Salvador",
                "Trinadad&Tobago",
                "Peru",
                "Hong",
                "Holand-Netherlands",
            ],
        ),
        (
            "race",
            &[
                "White",
                "Asian-Pac-Islander",
                "Amer-Indian-Eskimo",
                "Other",
                "Black",
            ],
        ),
        ("sex", &["Female", "Male"]),
        (
            "relationship",
            &[
                "Wife",
                "Own-child",
                "Husband",
                "Not-in-family",
                "Other-relative",
                "Unmarried",
            ],
        ),
    ];
    for (header, list) in adult {
        let values = cycle(list, 2000);
        assert_eq!(kind(header, &values), None, "{header}");
        assert_eq!(kind("c9", &values), None, "{header} without its header");
    }
    let cities = [
        "Jackson",
        "Houston",
        "Austin",
        "Charlotte",
        "Madison",
        "Lincoln",
        "Dallas",
        "Denver",
        "Phoenix",
        "Orlando",
        "Tampa",
        "Raleigh",
        "Memphis",
        "Boston",
        "Seattle",
        "Portland",
        "Columbus",
        "Cleveland",
        "Tucson",
        "Fresno",
        "Mesa",
        "Omaha",
        "Oakland",
        "Tulsa",
        "Wichita",
        "Arlington",
        "Aurora",
        "Anaheim",
        "Henderson",
        "Stockton",
        "Lexington",
        "Chandler",
        "Laredo",
        "Norfolk",
        "Durham",
        "Garland",
        "Irving",
        "Hialeah",
        "Reno",
        "Boise",
        "Richmond",
        "Spokane",
        "Montgomery",
        "Tacoma",
        "Shreveport",
        "Glendale",
        "Paris",
        "London",
        "Berlin",
        "Madrid",
        "Rome",
        "Vienna",
        "Prague",
        "Lisbon",
        "Dublin",
        "Warsaw",
        "Munich",
        "Hamburg",
        "Lyon",
        "Marseille",
    ];
    let values = cycle(&cities, 3000);
    assert_eq!(kind("city", &values), None);
    assert_eq!(kind("c2", &values), None, "city names without a header");
    let two_word_cities = cycle(
        &[
            "New York",
            "Los Angeles",
            "San Antonio",
            "San Diego",
            "San Jose",
            "Fort Worth",
            "El Paso",
            "Las Vegas",
            "Kansas City",
            "Long Beach",
            "Virginia Beach",
            "St Louis",
            "Santa Ana",
            "Corpus Christi",
            "Baton Rouge",
            "Des Moines",
            "Salt Lake City",
            "Grand Rapids",
            "Little Rock",
            "Santa Clara",
        ],
        1000,
    );
    assert_eq!(kind("c3", &two_word_cities), None);
    let words: Vec<String> = "the river green table window quickly market orange silver \
        garden winter bridge stone forest candle hammer pocket ladder violet copper meadow \
        harbor cotton marble pepper rocket saddle timber velvet walnut anchor basket cabin \
        dragon engine falcon glacier island jungle kettle lemon mirror needle oyster"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let words = cycle(&words.iter().map(String::as_str).collect::<Vec<_>>(), 1000);
    assert_eq!(kind("c5", &words), None, "lowercase words");
    assert_eq!(kind("name", &words), None, "lowercase words under `name`");
    let products = cycle(
        &[
            "Organic Green Tea",
            "Wireless Mouse",
            "Cotton T-Shirt",
            "Steel Water Bottle",
            "Leather Wallet",
            "Running Shoes",
            "Desk Lamp",
            "Coffee Grinder",
            "Yoga Mat",
            "Bluetooth Speaker",
            "Ceramic Mug",
            "Wool Scarf",
            "Garden Hose",
            "Phone Case",
            "Travel Backpack",
            "Kitchen Scale",
            "Silk Pillowcase",
            "Glass Vase",
        ],
        500,
    );
    assert_eq!(kind("product_name", &products), None);
    assert_eq!(kind("c6", &products), None);
    assert_eq!(kind("name", &products), None, "products under `name`");
    let colours = cycle(
        &[
            "Rose", "Violet", "Amber", "Hazel", "Olive", "Ruby", "Jade", "Ivory", "Coral", "Pearl",
            "Red", "Blue", "Green", "Black", "White", "Grey",
        ],
        400,
    );
    assert_eq!(kind("c8", &colours), None, "colour names");
    let months = cycle(
        &[
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        400,
    );
    assert_eq!(kind("c8", &months), None, "months");
    let streets: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "{} {}",
                [
                    "Oak", "Church", "Park", "Mill", "King", "Station", "Bridge", "High", "Green",
                    "Victoria", "Albert", "York"
                ][i % 12],
                ["Street", "Road", "Avenue", "Lane", "Close"][i / 12 % 5]
            )
        })
        .collect();
    assert_eq!(kind("c8", &streets), None, "street names without numbers");
    let numbers: Vec<String> = (0..500).map(|i| (i * 37 % 1000).to_string()).collect();
    assert_eq!(kind("c7", &numbers), None);
    let names_of_companies = cycle(&["Acme Corp", "Globex Inc", "Initech LLC"], 100);
    assert_eq!(kind("company_name", &names_of_companies), None);
}

/// Births spread over decades, unsorted.
fn births(n: usize, f: impl Fn(i32, u32, u32) -> String) -> Vec<String> {
    (0..n)
        .map(|i| {
            let y = 1940 + ((i * 37) % 60) as i32;
            let m = 1 + (i * 5 % 12) as u32;
            let d = 1 + (i * 11 % 28) as u32;
            f(y, m, d)
        })
        .collect()
}

#[test]
fn dates_of_birth() {
    let iso = births(500, |y, m, d| format!("{y}-{m:02}-{d:02}"));
    let german = births(500, |y, m, d| format!("{d:02}.{m:02}.{y}"));
    assert_eq!(kind("dob", &iso), Some(PiiKind::DateOfBirth));
    assert_eq!(kind("Geburtsdatum", &german), Some(PiiKind::DateOfBirth));
    const MOIS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let french = births(300, |y, m, d| format!("{d} {} {y}", MOIS[m as usize - 1]));
    assert_eq!(
        kind("date_de_naissance", &french),
        Some(PiiKind::DateOfBirth)
    );
    assert_eq!(kind("c9", &french), Some(PiiKind::DateOfBirth));
    assert_eq!(kind("fecha_nacimiento", &iso), Some(PiiKind::DateOfBirth));
    assert_eq!(kind("c8", &iso), Some(PiiKind::DateOfBirth));
    assert_eq!(
        kind("hire_date", &iso),
        None,
        "the header names another date"
    );
    assert_eq!(kind("Fecha", &german), None);
    // Event dates: recent, a few years apart, or sorted like a time series.
    let recent: Vec<String> = (0..500)
        .map(|i| format!("201{}-{:02}-{:02}", 3 + i % 4, 1 + i * 7 % 12, 1 + i % 28))
        .collect();
    assert_eq!(kind("c8", &recent), None);
    assert_eq!(kind("screening_date", &recent), None);
    let mut series = iso.clone();
    series.sort();
    assert_eq!(kind("c8", &series), None, "a sorted series is not births");
    assert_eq!(kind("date", &series), None);
    // A birth header over values that are not dates.
    assert_eq!(
        kind("place_of_birth", &cycle(&["Paris", "Lyon"], 100)),
        None
    );
}

#[test]
fn postal_codes_addresses_and_ids() {
    let zips: Vec<String> = (0..300)
        .map(|i| format!("{:05}", 10000 + i * 131 % 89999))
        .collect();
    assert_eq!(kind("zip", &zips), Some(PiiKind::PostalCode));
    assert_eq!(kind("PLZ", &zips), Some(PiiKind::PostalCode));
    assert_eq!(kind("c1", &zips), None, "bare numbers without a header");
    let uk = cycle(
        &[
            "SW1A 1AA", "M1 1AE", "EC1A 1BB", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX",
            "LS1 4AP", "G2 3WT", "BT1 5GS", "CF10 1EP", "EH1 1YZ",
        ],
        200,
    );
    assert_eq!(kind("c1", &uk), Some(PiiKind::PostalCode));
    let streets = [
        "Main Street",
        "Oak Avenue",
        "Elm Road",
        "Maple Drive",
        "Cedar Lane",
        "Pine Court",
        "Lake Boulevard",
        "Hill Way",
        "Park Place",
        "River Terrace",
    ];
    let addresses: Vec<String> = (0..300)
        .map(|i| format!("{} {}", 1 + i * 17 % 9000, streets[i % streets.len()]))
        .collect();
    assert_eq!(kind("address", &addresses), Some(PiiKind::StreetAddress));
    assert_eq!(kind("c2", &addresses), Some(PiiKind::StreetAddress));
    let european: Vec<String> = (0..300)
        .map(|i| {
            let s = [
                "Hauptstraße",
                "rue de la Paix",
                "Calle Mayor",
                "Via Roma",
                "Kerkstraat",
            ];
            match i % 5 {
                1 => format!("{} {}", 1 + i % 90, s[1]),
                _ => format!("{} {}", s[i % 5], 1 + i % 90),
            }
        })
        .collect();
    assert_eq!(kind("Adresse", &european), Some(PiiKind::StreetAddress));
    assert_eq!(kind("c3", &european), Some(PiiKind::StreetAddress));
    let japanese: Vec<String> = (0..100)
        .map(|i| format!("東京都千代田区千代田{}-{}", 1 + i % 9, 1 + i / 9))
        .collect();
    assert_eq!(kind("住所", &japanese), Some(PiiKind::StreetAddress));
    assert_eq!(kind("c3", &japanese), None);
    for other in ["ip_address", "email_address", "MacAddress"] {
        assert_eq!(header(other).says, None, "{other}");
    }
    let cases: Vec<String> = (0..300)
        .map(|i| format!("13{:06}CF10A", i * 7919 % 999_999))
        .collect();
    assert_eq!(kind("c_case_number", &cases), Some(PiiKind::PersonId));
    assert_eq!(kind("patient_id", &cases), Some(PiiKind::PersonId));
    assert_eq!(kind("PassengerId", &cases), Some(PiiKind::PersonId));
    assert_eq!(kind("patient_nbr", &cases), Some(PiiKind::PersonId));
    assert_eq!(kind("c4", &cases), None, "codes without a header");
    assert_eq!(kind("order_id", &cases), None);
}

#[test]
fn quasi_identifier_headers() {
    for (name, reason) in [
        ("sex", "sex"),
        ("Geschlecht", "sex"),
        ("age_cat", "age"),
        ("race", "race"),
        ("marital-status", "marital status"),
        ("native-country", "nationality"),
        ("dob", "birth"),
        ("year_of_birth", "birth"),
        ("zip", "postal code"),
        ("lieu_de_naissance", "place of birth"),
    ] {
        assert_eq!(quasi_identifier_hint(name), Some(reason), "{name}");
    }
    for name in ["amount", "score", "c1", "decile_score", "image"] {
        assert_eq!(quasi_identifier_hint(name), None, "{name}");
    }
}
